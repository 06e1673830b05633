-- dialect: postgres
-- expect: pg-backfill-in-ddl-transaction
BEGIN;
ALTER TABLE users ADD COLUMN IF NOT EXISTS nick text;
UPDATE users SET nick = name;
COMMIT;
