-- dialect: mysql
-- expect: mysql-alter-without-algorithm
SET SESSION lock_wait_timeout = 5;
CREATE INDEX idx_email ON users (email);
