-- dialect: postgres
-- expect-not: pg-add-exclusion-constraint
CREATE TABLE IF NOT EXISTS bookings2 (room bigint, during tstzrange, EXCLUDE USING gist (room WITH =, during WITH &&));
