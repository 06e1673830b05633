-- dialect: postgres
-- assume-in-transaction
-- expect-not: pg-transaction-nesting
SELECT 1;
