-- dialect: postgres
-- expect-not: pg-backfill-in-ddl-transaction
BEGIN;
ALTER TABLE users ADD COLUMN IF NOT EXISTS nick text;
COMMIT;
UPDATE users SET nick = name WHERE id BETWEEN 1 AND 1000;
