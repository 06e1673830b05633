-- dialect: postgres
-- expect-not: pg-missing-statement-timeout
SET lock_timeout = '2s';
SET statement_timeout = '5min';
CREATE INDEX IF NOT EXISTS i ON t (a);
