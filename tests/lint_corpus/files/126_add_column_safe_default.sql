-- dialect: postgres
-- expect: 
-- expect-not: pg-add-column-volatile-default
SET lock_timeout = '2s';
ALTER TABLE users ADD COLUMN IF NOT EXISTS active boolean NOT NULL DEFAULT true;
