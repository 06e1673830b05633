-- dialect: sqlite
-- expect-not: sqlite-drop-column
CREATE TABLE t2 (a INTEGER, b TEXT);
ALTER TABLE t2 DROP COLUMN b;
