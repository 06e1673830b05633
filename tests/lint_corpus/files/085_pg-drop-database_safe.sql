-- dialect: postgres
-- expect-not: pg-drop-database
SELECT 1;
