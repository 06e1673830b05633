-- dialect: postgres
-- expect: pg-add-column-volatile-default
-- pg-version: 10
ALTER TABLE users ADD COLUMN flag boolean DEFAULT false;
