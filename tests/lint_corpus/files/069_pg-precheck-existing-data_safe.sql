-- dialect: postgres
-- expect-not: pg-precheck-existing-data
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);
