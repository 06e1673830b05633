-- dialect: postgres
-- expect: 
-- expect-not: pg-add-exclusion-constraint
CREATE TABLE IF NOT EXISTS slots (room bigint, during tstzrange);
ALTER TABLE slots ADD CONSTRAINT slots_excl EXCLUDE USING gist (room WITH =, during WITH &&);
