-- dialect: postgres
-- expect: pg-prefer-identity
CREATE TABLE IF NOT EXISTS a (id bigserial);
