-- dialect: postgres
-- expect: pg-drop-index-nonconcurrent
DROP INDEX idx_users_email;
