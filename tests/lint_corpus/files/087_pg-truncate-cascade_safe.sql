-- dialect: postgres
-- expect-not: pg-truncate-cascade
TRUNCATE users;
