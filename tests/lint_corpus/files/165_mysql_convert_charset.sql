-- dialect: mysql
-- expect: mysql-alter-copies-table
SET SESSION lock_wait_timeout = 5;
ALTER TABLE users CONVERT TO CHARACTER SET utf8mb4;
