-- dialect: postgres
-- expect-not: pg-foreign-key-without-index, pg-create-index-nonconcurrent
CREATE TABLE IF NOT EXISTS orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));
CREATE INDEX IF NOT EXISTS orders_user_id_idx ON orders (user_id);
