-- dialect: postgres
-- expect: pg-statements-after-access-exclusive, pg-create-index-nonconcurrent
BEGIN;
SET lock_timeout = '2s';
ALTER TABLE orders RENAME COLUMN total TO amount;
CREATE INDEX orders_amount_idx ON orders (amount);
COMMIT;
