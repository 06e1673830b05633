-- dialect: postgres
-- expect: invalid-ignore
-- datamigration:ignore pg-drop-table
DROP TABLE t;
