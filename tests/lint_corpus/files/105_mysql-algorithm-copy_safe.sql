-- dialect: mysql
-- expect-not: mysql-algorithm-copy
ALTER TABLE users ADD INDEX idx_nick (nick), ALGORITHM=INPLACE, LOCK=NONE;
