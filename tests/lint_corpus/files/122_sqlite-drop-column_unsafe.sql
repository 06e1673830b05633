-- dialect: sqlite
-- expect: sqlite-drop-column
ALTER TABLE users DROP COLUMN legacy;
