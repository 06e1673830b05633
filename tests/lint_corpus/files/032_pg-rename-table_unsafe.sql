-- dialect: postgres
-- expect: pg-rename-table
ALTER TABLE users RENAME TO accounts;
