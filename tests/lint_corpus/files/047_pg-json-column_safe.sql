-- dialect: postgres
-- expect-not: pg-json-column
ALTER TABLE events ADD COLUMN IF NOT EXISTS payload jsonb;
