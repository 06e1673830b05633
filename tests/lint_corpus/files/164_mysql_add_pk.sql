-- dialect: mysql
-- expect: mysql-alter-copies-table
SET SESSION lock_wait_timeout = 5;
ALTER TABLE events ADD PRIMARY KEY (id);
