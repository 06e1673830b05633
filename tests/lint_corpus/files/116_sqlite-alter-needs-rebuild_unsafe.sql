-- dialect: sqlite
-- expect: sqlite-alter-needs-rebuild
ALTER TABLE users ADD COLUMN status TEXT NOT NULL;
