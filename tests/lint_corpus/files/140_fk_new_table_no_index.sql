-- dialect: postgres
-- expect: pg-foreign-key-without-index
CREATE TABLE IF NOT EXISTS comments (id bigint PRIMARY KEY, post_id bigint NOT NULL REFERENCES posts (id), body text);
