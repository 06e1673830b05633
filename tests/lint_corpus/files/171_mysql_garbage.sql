-- dialect: mysql
-- expect: parse-error
ALTER TABLE ADD COLUMN;
