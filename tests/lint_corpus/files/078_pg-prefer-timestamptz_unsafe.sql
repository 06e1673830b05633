-- dialect: postgres
-- expect: pg-prefer-timestamptz
CREATE TABLE IF NOT EXISTS a (at timestamp);
