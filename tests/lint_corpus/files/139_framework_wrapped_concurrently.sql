-- dialect: postgres
-- expect: pg-concurrently-in-transaction
-- assume-in-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (email);
