-- dialect: postgres
-- expect-not: pg-drop-index-nonconcurrent
DROP INDEX CONCURRENTLY IF EXISTS idx_users_email;
