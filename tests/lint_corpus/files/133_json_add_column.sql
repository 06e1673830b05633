-- dialect: postgres
-- expect: pg-json-column
SET lock_timeout = '2s';
ALTER TABLE events ADD COLUMN IF NOT EXISTS meta json;
