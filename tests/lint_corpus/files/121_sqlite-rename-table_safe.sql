-- dialect: sqlite
-- expect-not: sqlite-rename-table
CREATE VIEW accounts AS SELECT * FROM users;
