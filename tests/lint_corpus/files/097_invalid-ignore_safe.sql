-- dialect: postgres
-- expect-not: invalid-ignore, pg-drop-table
-- datamigration:ignore pg-drop-table archived in ticket 42
DROP TABLE t;
