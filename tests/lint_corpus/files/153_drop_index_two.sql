-- dialect: postgres
-- expect: pg-drop-index-nonconcurrent
DROP INDEX IF EXISTS a_idx, b_idx;
