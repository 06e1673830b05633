-- dialect: sqlite
-- expect: 
-- expect-not: sqlite-alter-needs-rebuild
ALTER TABLE users ADD COLUMN nickname TEXT;
