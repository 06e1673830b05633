-- dialect: mysql
-- expect: 
-- expect-not: mysql-alter-without-algorithm
CREATE TABLE widgets (id BIGINT PRIMARY KEY);
ALTER TABLE widgets ADD COLUMN name VARCHAR(50);
