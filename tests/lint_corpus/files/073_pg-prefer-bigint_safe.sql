-- dialect: postgres
-- expect-not: pg-prefer-bigint
CREATE TABLE IF NOT EXISTS a (n bigint);
