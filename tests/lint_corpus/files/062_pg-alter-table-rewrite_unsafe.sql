-- dialect: postgres
-- expect: pg-alter-table-rewrite
ALTER TABLE users SET LOGGED;
