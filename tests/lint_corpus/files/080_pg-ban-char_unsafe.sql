-- dialect: postgres
-- expect: pg-ban-char
CREATE TABLE IF NOT EXISTS a (code char(2));
