-- dialect: postgres
-- expect: pg-add-foreign-key
SET lock_timeout = '2s';
ALTER TABLE orders ADD COLUMN IF NOT EXISTS coupon_id bigint REFERENCES coupons (id);
