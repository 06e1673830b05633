-- dialect: postgres
-- expect-not: pg-enum-add-value-unordered
ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh' AFTER 'ok';
