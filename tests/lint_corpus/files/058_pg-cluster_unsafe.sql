-- dialect: postgres
-- expect: pg-cluster
CLUSTER users USING users_pkey;
