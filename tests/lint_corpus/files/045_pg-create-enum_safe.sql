-- dialect: postgres
-- expect-not: pg-create-enum
CREATE TABLE IF NOT EXISTS moods (name text PRIMARY KEY);
