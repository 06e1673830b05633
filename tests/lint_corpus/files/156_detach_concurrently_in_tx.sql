-- dialect: postgres
-- expect: pg-concurrently-in-transaction
BEGIN;
ALTER TABLE m DETACH PARTITION m_2019 CONCURRENTLY;
COMMIT;
