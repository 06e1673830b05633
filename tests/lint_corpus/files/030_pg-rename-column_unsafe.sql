-- dialect: postgres
-- expect: pg-rename-column
ALTER TABLE users RENAME COLUMN name TO full_name;
