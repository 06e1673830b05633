-- dialect: postgres
-- expect: pg-reindex-nonconcurrent
REINDEX TABLE users;
