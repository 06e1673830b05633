-- dialect: postgres
-- expect-not: pg-prefer-timestamptz
CREATE TABLE IF NOT EXISTS a (at timestamptz);
