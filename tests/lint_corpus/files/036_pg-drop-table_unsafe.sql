-- dialect: postgres
-- expect: pg-drop-table
DROP TABLE legacy_users;
