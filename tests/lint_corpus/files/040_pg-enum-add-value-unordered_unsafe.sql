-- dialect: postgres
-- expect: pg-enum-add-value-unordered
ALTER TYPE mood ADD VALUE 'meh';
