-- dialect: postgres
-- expect: 
-- expect-not: pg-foreign-key-without-index, pg-create-index-nonconcurrent
CREATE TABLE IF NOT EXISTS comments (id bigint PRIMARY KEY, post_id bigint NOT NULL REFERENCES posts (id), body text);
CREATE INDEX IF NOT EXISTS comments_post_id_idx ON comments (post_id);
