-- dialect: postgres
-- expect-not: pg-rename-table
CREATE OR REPLACE VIEW accounts AS SELECT * FROM users;
