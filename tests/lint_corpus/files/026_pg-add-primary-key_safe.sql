-- dialect: postgres
-- expect-not: pg-add-primary-key
ALTER TABLE items ADD CONSTRAINT items_pkey PRIMARY KEY USING INDEX items_pkey;
