-- dialect: postgres
-- expect: pg-domain-check-constraint
ALTER DOMAIN positive ADD CONSTRAINT positive_check CHECK (VALUE > 0);
