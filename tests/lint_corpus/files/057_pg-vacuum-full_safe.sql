-- dialect: postgres
-- expect-not: pg-vacuum-full
VACUUM users;
