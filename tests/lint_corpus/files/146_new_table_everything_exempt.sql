-- dialect: postgres
-- expect: 
-- expect-not: pg-create-index-nonconcurrent, pg-add-foreign-key, pg-set-not-null
CREATE TABLE IF NOT EXISTS invoices (id bigint PRIMARY KEY, customer_id bigint, total numeric);
CREATE INDEX IF NOT EXISTS invoices_customer_idx ON invoices (customer_id);
ALTER TABLE invoices ADD CONSTRAINT invoices_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE invoices ALTER COLUMN total SET NOT NULL;
