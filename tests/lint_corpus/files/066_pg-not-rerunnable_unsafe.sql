-- dialect: postgres
-- expect: pg-not-rerunnable
CREATE TABLE accounts (id bigint);
