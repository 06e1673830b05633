-- dialect: postgres
-- expect: pg-add-column-serial
ALTER TABLE events ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
