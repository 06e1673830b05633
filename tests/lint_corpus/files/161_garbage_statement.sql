-- dialect: postgres
-- expect: parse-error
SELECT 1;
ALTER TABLE users ADD COLUMN;
SELECT 2;
