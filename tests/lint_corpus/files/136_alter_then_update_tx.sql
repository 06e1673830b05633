-- dialect: postgres
-- expect: pg-statements-after-access-exclusive, pg-backfill-in-ddl-transaction
BEGIN;
SET lock_timeout = '2s';
ALTER TABLE users ADD COLUMN IF NOT EXISTS c text;
UPDATE users SET c = 'x';
COMMIT;
