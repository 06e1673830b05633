-- dialect: postgres
-- expect: 
-- expect-not: pg-drop-table, unused-ignore
-- datamigration:ignore pg-drop-table archived to s3 in ticket 812
DROP TABLE IF EXISTS old_logs;
