-- dialect: postgres
-- expect: pg-create-enum
CREATE TYPE mood AS ENUM ('sad', 'ok');
