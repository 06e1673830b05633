-- dialect: postgres
-- expect-not: pg-enum-rename-value
ALTER TYPE mood ADD VALUE IF NOT EXISTS 'fine' AFTER 'ok';
