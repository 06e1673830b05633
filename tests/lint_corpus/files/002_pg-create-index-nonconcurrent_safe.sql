-- dialect: postgres
-- expect-not: pg-create-index-nonconcurrent
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_email ON users (email);
