-- dialect: postgres
-- expect-not: pg-add-column-required
ALTER TABLE users ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'active';
