-- dialect: postgres
-- expect: pg-reindex-nonconcurrent
REINDEX INDEX idx_users_email;
