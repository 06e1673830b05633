-- dialect: postgres
-- expect-not: pg-rename-column
ALTER TABLE users ADD COLUMN IF NOT EXISTS full_name text;
