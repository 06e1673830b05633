-- dialect: postgres
-- expect: pg-alter-table-rewrite
ALTER TABLE big SET TABLESPACE fast_ssd;
