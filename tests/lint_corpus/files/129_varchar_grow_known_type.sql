-- dialect: postgres
-- expect: 
-- expect-not: pg-change-column-type
CREATE TABLE IF NOT EXISTS notes (body varchar(100));
ALTER TABLE notes ALTER COLUMN body TYPE varchar(500);
