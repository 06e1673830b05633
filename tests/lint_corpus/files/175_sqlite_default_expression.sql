-- dialect: sqlite
-- expect: sqlite-alter-needs-rebuild
ALTER TABLE users ADD COLUMN created_at TEXT DEFAULT CURRENT_TIMESTAMP;
