-- dialect: postgres
-- expect: pg-detach-partition-nonconcurrent
ALTER TABLE measurements DETACH PARTITION measurements_2020;
