-- dialect: postgres
-- expect: pg-statements-after-access-exclusive
BEGIN;
SET lock_timeout = '2s';
ALTER TABLE users ADD COLUMN IF NOT EXISTS a text;
ALTER TABLE users ADD COLUMN IF NOT EXISTS b text;
COMMIT;
