-- dialect: postgres
-- expect: pg-json-column
CREATE TABLE IF NOT EXISTS audit (id bigint PRIMARY KEY, payload json);
