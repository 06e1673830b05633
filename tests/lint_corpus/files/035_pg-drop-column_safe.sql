-- dialect: postgres
-- expect-not: pg-drop-column
CREATE TABLE IF NOT EXISTS tmp (a bigint, b text);
ALTER TABLE tmp DROP COLUMN b;
