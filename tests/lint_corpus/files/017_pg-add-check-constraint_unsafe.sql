-- dialect: postgres
-- expect: pg-add-check-constraint
ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total > 0);
