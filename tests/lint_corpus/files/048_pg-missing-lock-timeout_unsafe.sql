-- dialect: postgres
-- expect: pg-missing-lock-timeout
ALTER TABLE users ADD COLUMN IF NOT EXISTS nick text;
