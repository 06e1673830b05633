-- dialect: postgres
-- expect: pg-json-column
ALTER TABLE events ADD COLUMN IF NOT EXISTS payload json;
