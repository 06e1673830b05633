-- dialect: postgres
-- expect: pg-add-column-serial
ALTER TABLE users ADD COLUMN seq bigserial;
