-- dialect: postgres
-- expect-not: pg-add-column-stored-generated
ALTER TABLE items ADD COLUMN IF NOT EXISTS total numeric;
