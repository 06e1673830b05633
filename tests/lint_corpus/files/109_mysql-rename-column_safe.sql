-- dialect: mysql
-- expect-not: mysql-rename-column
ALTER TABLE users ADD COLUMN full_name VARCHAR(200), ALGORITHM=INSTANT;
