-- dialect: postgres
-- expect-not: pg-concurrently-in-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (email);
