-- dialect: postgres
-- expect: pg-drop-column
ALTER TABLE users DROP COLUMN legacy;
