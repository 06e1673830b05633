-- dialect: postgres
-- expect-not: pg-uncommitted-transaction
BEGIN;
SELECT 1;
COMMIT;
