-- dialect: postgres
-- expect-not: pg-drop-not-null
ALTER TABLE users ALTER COLUMN email SET DEFAULT '';
