-- dialect: mysql
-- expect: mysql-drop-table
DROP TABLE legacy;
