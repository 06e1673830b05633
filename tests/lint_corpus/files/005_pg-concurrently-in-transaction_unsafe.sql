-- dialect: postgres
-- expect: pg-concurrently-in-transaction
BEGIN;
CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (email);
COMMIT;
