-- dialect: postgres
-- expect: pg-drop-database
DROP DATABASE app;
