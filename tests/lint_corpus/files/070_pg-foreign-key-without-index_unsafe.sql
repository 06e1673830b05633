-- dialect: postgres
-- expect: pg-foreign-key-without-index
CREATE TABLE IF NOT EXISTS orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));
