-- dialect: postgres
-- expect-not: pg-cluster
ANALYZE users;
