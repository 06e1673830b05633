-- dialect: postgres
-- expect: pg-add-column-required
ALTER TABLE users ADD COLUMN status text NOT NULL;
