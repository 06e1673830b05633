-- dialect: postgres
-- expect: pg-create-index-nonconcurrent
CREATE INDEX idx_users_email ON users (email);
