-- dialect: postgres
-- expect: pg-statements-after-access-exclusive
-- assume-in-transaction
SET lock_timeout = '2s';
ALTER TABLE users DROP COLUMN IF EXISTS legacy;
ALTER TABLE users ADD COLUMN IF NOT EXISTS newer text;
