-- dialect: postgres
-- expect: pg-statements-after-access-exclusive
BEGIN;
SET lock_timeout = '2s';
ALTER TABLE users ADD COLUMN IF NOT EXISTS nick text;
ALTER TABLE orders ADD COLUMN IF NOT EXISTS note text;
COMMIT;
