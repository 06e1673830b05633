-- dialect: postgres
-- expect: pg-missing-statement-timeout
SET lock_timeout = '2s';
CREATE INDEX IF NOT EXISTS i ON t (a);
