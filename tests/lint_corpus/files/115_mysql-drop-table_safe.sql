-- dialect: mysql
-- expect-not: mysql-drop-table
CREATE TABLE t2 (id BIGINT);
DROP TABLE t2;
