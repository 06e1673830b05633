-- dialect: postgres
-- expect: pg-json-column, pg-change-column-type
ALTER TABLE events ALTER COLUMN meta TYPE json;
