-- dialect: postgres
-- expect-not: pg-add-column-volatile-default
ALTER TABLE users ADD COLUMN IF NOT EXISTS created timestamptz DEFAULT now();
