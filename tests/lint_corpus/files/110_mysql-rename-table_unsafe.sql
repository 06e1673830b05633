-- dialect: mysql
-- expect: mysql-rename-table
RENAME TABLE users TO accounts;
