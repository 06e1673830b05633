-- dialect: postgres
-- expect: pg-uncommitted-transaction
BEGIN;
SELECT 1;
