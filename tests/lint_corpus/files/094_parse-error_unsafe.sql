-- dialect: postgres
-- expect: parse-error
CREAT TABLE x (id bigint);
