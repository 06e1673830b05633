-- dialect: mysql
-- expect: mysql-drop-column
ALTER TABLE users DROP COLUMN legacy, ALGORITHM=INSTANT;
