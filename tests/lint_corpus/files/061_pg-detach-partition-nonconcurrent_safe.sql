-- dialect: postgres
-- expect-not: pg-detach-partition-nonconcurrent
ALTER TABLE measurements DETACH PARTITION measurements_2020 CONCURRENTLY;
