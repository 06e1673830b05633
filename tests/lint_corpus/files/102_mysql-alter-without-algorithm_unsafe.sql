-- dialect: mysql
-- expect: mysql-alter-without-algorithm
ALTER TABLE users ADD COLUMN nick VARCHAR(50);
