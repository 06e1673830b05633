-- dialect: mysql
-- expect: mysql-missing-lock-wait-timeout
ALTER TABLE users ADD COLUMN nick VARCHAR(50), ALGORITHM=INSTANT;
