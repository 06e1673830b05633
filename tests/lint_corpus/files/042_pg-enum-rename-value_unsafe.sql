-- dialect: postgres
-- expect: pg-enum-rename-value
ALTER TYPE mood RENAME VALUE 'ok' TO 'fine';
