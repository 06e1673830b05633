-- dialect: mysql
-- expect: mysql-algorithm-copy
ALTER TABLE users ADD INDEX idx_nick (nick), ALGORITHM=COPY;
