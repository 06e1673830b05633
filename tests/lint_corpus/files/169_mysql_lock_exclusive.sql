-- dialect: mysql
-- expect: mysql-algorithm-copy
SET SESSION lock_wait_timeout = 5;
ALTER TABLE users ADD INDEX idx_a (a), LOCK=EXCLUSIVE;
