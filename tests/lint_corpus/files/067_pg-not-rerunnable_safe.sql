-- dialect: postgres
-- expect-not: pg-not-rerunnable
CREATE TABLE IF NOT EXISTS accounts (id bigint);
