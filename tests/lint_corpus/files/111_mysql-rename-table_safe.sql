-- dialect: mysql
-- expect-not: mysql-rename-table
CREATE TABLE accounts (id BIGINT PRIMARY KEY);
