-- dialect: postgres
-- expect: pg-change-column-type
ALTER TABLE orders ALTER COLUMN id TYPE bigint;
