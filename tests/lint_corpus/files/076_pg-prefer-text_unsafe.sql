-- dialect: postgres
-- expect: pg-prefer-text
CREATE TABLE IF NOT EXISTS a (name varchar(20));
