-- dialect: sqlite
-- expect-not: sqlite-drop-table
CREATE TABLE t2 (id INTEGER);
DROP TABLE t2;
