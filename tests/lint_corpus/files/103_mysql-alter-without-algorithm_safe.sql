-- dialect: mysql
-- expect-not: mysql-alter-without-algorithm
ALTER TABLE users ADD COLUMN nick VARCHAR(50), ALGORITHM=INSTANT;
