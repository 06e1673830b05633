-- dialect: sqlite
-- expect: sqlite-alter-needs-rebuild
ALTER TABLE users ALTER COLUMN age TYPE BIGINT;
