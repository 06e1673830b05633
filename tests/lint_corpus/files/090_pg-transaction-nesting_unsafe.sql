-- dialect: postgres
-- assume-in-transaction
-- expect: pg-transaction-nesting
BEGIN;
SELECT 1;
COMMIT;
