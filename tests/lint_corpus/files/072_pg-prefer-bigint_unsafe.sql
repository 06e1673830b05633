-- dialect: postgres
-- expect: pg-prefer-bigint
CREATE TABLE IF NOT EXISTS a (n int);
