-- dialect: postgres
-- expect: unused-ignore
-- datamigration:ignore pg-drop-table not needed
SELECT 1;
