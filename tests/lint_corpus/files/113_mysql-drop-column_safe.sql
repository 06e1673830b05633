-- dialect: mysql
-- expect-not: mysql-drop-column
ALTER TABLE users ALTER COLUMN legacy SET DEFAULT NULL, ALGORITHM=INSTANT;
