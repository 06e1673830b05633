-- dialect: postgres
-- expect: pg-add-exclusion-constraint
SET lock_timeout = '2s';
ALTER TABLE reservations ADD CONSTRAINT no_double_booking EXCLUDE USING gist (room_id WITH =, during WITH &&);
