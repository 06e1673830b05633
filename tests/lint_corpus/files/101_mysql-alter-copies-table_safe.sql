-- dialect: mysql
-- expect-not: mysql-alter-copies-table
SET SESSION lock_wait_timeout = 5;
ALTER TABLE users ADD COLUMN nick VARCHAR(50), ALGORITHM=INSTANT;
