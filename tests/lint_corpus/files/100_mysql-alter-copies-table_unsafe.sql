-- dialect: mysql
-- expect: mysql-alter-copies-table
ALTER TABLE users MODIFY COLUMN name VARCHAR(500) NOT NULL;
