-- dialect: postgres
-- expect-not: pg-prefer-text
CREATE TABLE IF NOT EXISTS a (name text);
