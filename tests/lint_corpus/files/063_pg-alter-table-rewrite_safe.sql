-- dialect: postgres
-- expect-not: pg-alter-table-rewrite
ALTER TABLE users SET (fillfactor = 90);
