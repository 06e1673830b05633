-- dialect: postgres
-- expect: pg-precheck-existing-data
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_email_key ON users (email);
