-- dialect: postgres
-- expect-not: pg-add-column-serial
ALTER TABLE users ADD COLUMN IF NOT EXISTS seq bigint;
