-- dialect: postgres
-- expect: pg-add-column-volatile-default
ALTER TABLE users ADD COLUMN code text DEFAULT make_code();
