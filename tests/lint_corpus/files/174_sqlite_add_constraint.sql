-- dialect: sqlite
-- expect: sqlite-alter-needs-rebuild
ALTER TABLE users ADD CONSTRAINT age_positive CHECK (age > 0);
