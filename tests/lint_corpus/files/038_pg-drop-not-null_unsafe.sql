-- dialect: postgres
-- expect: pg-drop-not-null
ALTER TABLE users ALTER COLUMN email DROP NOT NULL;
