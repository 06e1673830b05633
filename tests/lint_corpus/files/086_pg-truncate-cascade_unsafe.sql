-- dialect: postgres
-- expect: pg-truncate-cascade
TRUNCATE users CASCADE;
