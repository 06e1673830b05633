-- dialect: postgres
-- expect: pg-concurrently-in-transaction
BEGIN;
REINDEX TABLE CONCURRENTLY users;
COMMIT;
