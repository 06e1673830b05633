-- dialect: postgres
-- expect-not: pg-missing-lock-timeout
SET lock_timeout = '2s';
ALTER TABLE users ADD COLUMN IF NOT EXISTS nick text;
