-- dialect: postgres
-- expect: pg-foreign-key-without-index
CREATE TABLE IF NOT EXISTS likes (user_id bigint, post_id bigint, PRIMARY KEY (user_id, post_id), FOREIGN KEY (post_id) REFERENCES posts (id));
