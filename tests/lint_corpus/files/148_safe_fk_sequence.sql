-- dialect: postgres
-- expect: 
-- expect-not: pg-add-foreign-key, pg-validate-in-same-transaction
SET lock_timeout = '2s';
ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;
