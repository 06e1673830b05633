-- dialect: postgres
-- expect: pg-add-column-stored-generated
ALTER TABLE items ADD COLUMN total numeric GENERATED ALWAYS AS (price * qty) STORED;
