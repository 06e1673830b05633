-- dialect: postgres
-- expect: 
-- expect-not: parse-error
CREATE OR REPLACE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.x := 1; RETURN NEW;
END $$;
