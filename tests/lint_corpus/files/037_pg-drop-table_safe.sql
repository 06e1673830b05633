-- dialect: postgres
-- expect-not: pg-drop-table
CREATE TABLE IF NOT EXISTS scratch (id bigint);
DROP TABLE IF EXISTS scratch;
