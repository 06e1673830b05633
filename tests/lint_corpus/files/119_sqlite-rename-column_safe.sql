-- dialect: sqlite
-- expect-not: sqlite-rename-column
ALTER TABLE users ADD COLUMN full_name TEXT;
