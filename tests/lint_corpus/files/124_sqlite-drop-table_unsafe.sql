-- dialect: sqlite
-- expect: sqlite-drop-table
DROP TABLE legacy;
