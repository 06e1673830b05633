-- dialect: sqlite
-- expect: 
-- expect-not: parse-error
CREATE TRIGGER users_touch AFTER UPDATE ON users BEGIN
  UPDATE users SET updated = 1 WHERE id = NEW.id;
END;
