-- dialect: postgres
-- expect: pg-vacuum-full
VACUUM FULL users;
