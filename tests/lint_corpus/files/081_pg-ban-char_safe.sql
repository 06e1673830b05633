-- dialect: postgres
-- expect-not: pg-ban-char
CREATE TABLE IF NOT EXISTS a (code text);
