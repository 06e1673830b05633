-- dialect: sqlite
-- expect: sqlite-alter-needs-rebuild
ALTER TABLE users ADD COLUMN handle TEXT UNIQUE;
