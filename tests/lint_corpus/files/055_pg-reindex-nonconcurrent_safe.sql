-- dialect: postgres
-- expect-not: pg-reindex-nonconcurrent
REINDEX INDEX CONCURRENTLY idx_users_email;
