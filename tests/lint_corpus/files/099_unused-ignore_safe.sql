-- dialect: postgres
-- expect-not: unused-ignore
SELECT 1;
