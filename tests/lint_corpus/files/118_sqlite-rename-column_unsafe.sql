-- dialect: sqlite
-- expect: sqlite-rename-column
ALTER TABLE users RENAME COLUMN name TO full_name;
