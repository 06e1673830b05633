-- dialect: mysql
-- expect: mysql-rename-column, mysql-alter-copies-table
SET SESSION lock_wait_timeout = 5;
ALTER TABLE users CHANGE name full_name VARCHAR(200);
