-- dialect: postgres
-- expect: pg-domain-check-constraint
CREATE DOMAIN positive AS bigint CHECK (VALUE > 0);
