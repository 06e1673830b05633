-- dialect: sqlite
-- expect-not: sqlite-alter-needs-rebuild
ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
