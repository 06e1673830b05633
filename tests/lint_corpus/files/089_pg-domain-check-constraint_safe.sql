-- dialect: postgres
-- expect-not: pg-domain-check-constraint
CREATE DOMAIN positive AS bigint;
