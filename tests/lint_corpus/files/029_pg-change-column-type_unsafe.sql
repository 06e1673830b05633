-- dialect: postgres
-- expect: pg-change-column-type
ALTER TABLE users ALTER COLUMN id TYPE bigint;
