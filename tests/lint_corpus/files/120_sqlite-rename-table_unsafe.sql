-- dialect: sqlite
-- expect: sqlite-rename-table
ALTER TABLE users RENAME TO accounts;
