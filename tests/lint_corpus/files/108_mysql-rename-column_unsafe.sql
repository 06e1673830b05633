-- dialect: mysql
-- expect: mysql-rename-column
ALTER TABLE users RENAME COLUMN name TO full_name, ALGORITHM=INSTANT;
