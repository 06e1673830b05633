-- dialect: postgres
-- expect-not: parse-error
CREATE TABLE IF NOT EXISTS x (id bigint);
