-- dialect: postgres
-- expect: 
-- expect-not: pg-add-column-volatile-default
SET lock_timeout = '2s';
ALTER TABLE users ADD COLUMN IF NOT EXISTS seen_at timestamptz DEFAULT now();
