-- dialect: postgres
-- expect: pg-transaction-nesting
BEGIN;
BEGIN;
SELECT 1;
COMMIT;
COMMIT;
