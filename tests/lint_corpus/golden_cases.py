"""Golden cases, one per rule: (rule, dialect, unsafe SQL, safe SQL, options).

Shared by the golden test and the docs generator's coverage check. The unsafe input must
produce the rule (and the exact fix stored in tests/lint_corpus/golden/fixes.json); the safe
variant must not produce it.
"""

from datamigration.lint.pgtypes import PgType

UTC = {"column_types": {"users": {"name": PgType("varchar", (50,))}}}

CASES = [
    (
        "pg-create-index-nonconcurrent",
        "postgres",
        "CREATE INDEX idx_users_email ON users (email);",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_email ON users (email);",
        {},
    ),
    (
        "pg-drop-index-nonconcurrent",
        "postgres",
        "DROP INDEX idx_users_email;",
        "DROP INDEX CONCURRENTLY IF EXISTS idx_users_email;",
        {},
    ),
    (
        "pg-concurrently-in-transaction",
        "postgres",
        "BEGIN;\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (email);\nCOMMIT;",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (email);",
        {},
    ),
    (
        "pg-add-column-volatile-default",
        "postgres",
        "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();",
        "ALTER TABLE users ADD COLUMN IF NOT EXISTS created timestamptz DEFAULT now();",
        {},
    ),
    (
        "pg-add-column-serial",
        "postgres",
        "ALTER TABLE users ADD COLUMN seq bigserial;",
        "ALTER TABLE users ADD COLUMN IF NOT EXISTS seq bigint;",
        {},
    ),
    (
        "pg-add-column-stored-generated",
        "postgres",
        "ALTER TABLE items ADD COLUMN total numeric GENERATED ALWAYS AS (price * qty) STORED;",
        "ALTER TABLE items ADD COLUMN IF NOT EXISTS total numeric;",
        {},
    ),
    (
        "pg-add-column-required",
        "postgres",
        "ALTER TABLE users ADD COLUMN status text NOT NULL;",
        "ALTER TABLE users ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'active';",
        {},
    ),
    (
        "pg-set-not-null",
        "postgres",
        "ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
        (
            "ALTER TABLE users ADD CONSTRAINT users_email_not_null CHECK (email IS NOT NULL) NOT VALID;\n"
            "ALTER TABLE users VALIDATE CONSTRAINT users_email_not_null;\n"
            "ALTER TABLE users ALTER COLUMN email SET NOT NULL;"
        ),
        {},
    ),
    (
        "pg-add-check-constraint",
        "postgres",
        "ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total > 0);",
        "ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total > 0) NOT VALID;",
        {},
    ),
    (
        "pg-add-foreign-key",
        "postgres",
        "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);",
        (
            "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) "
            "NOT VALID;"
        ),
        {},
    ),
    (
        "pg-validate-in-same-transaction",
        "postgres",
        (
            "BEGIN;\nALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES "
            "users (id) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;\nCOMMIT;"
        ),
        (
            "BEGIN;\nALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES "
            "users (id) NOT VALID;\nCOMMIT;\nALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;"
        ),
        {},
    ),
    (
        "pg-add-unique-constraint",
        "postgres",
        "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);",
        "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;",
        {},
    ),
    (
        "pg-add-primary-key",
        "postgres",
        "ALTER TABLE items ADD PRIMARY KEY (id);",
        "ALTER TABLE items ADD CONSTRAINT items_pkey PRIMARY KEY USING INDEX items_pkey;",
        {},
    ),
    (
        "pg-add-exclusion-constraint",
        "postgres",
        "ALTER TABLE bookings ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =, during WITH &&);",
        (
            "CREATE TABLE IF NOT EXISTS bookings2 (room bigint, during tstzrange, "
            "EXCLUDE USING gist (room WITH =, during WITH &&));"
        ),
        {},
    ),
    (
        "pg-change-column-type",
        "postgres",
        "ALTER TABLE users ALTER COLUMN id TYPE bigint;",
        "ALTER TABLE users ALTER COLUMN name TYPE varchar(200);",
        UTC,
    ),
    (
        "pg-rename-column",
        "postgres",
        "ALTER TABLE users RENAME COLUMN name TO full_name;",
        "ALTER TABLE users ADD COLUMN IF NOT EXISTS full_name text;",
        {},
    ),
    (
        "pg-rename-table",
        "postgres",
        "ALTER TABLE users RENAME TO accounts;",
        "CREATE OR REPLACE VIEW accounts AS SELECT * FROM users;",
        {},
    ),
    (
        "pg-drop-column",
        "postgres",
        "ALTER TABLE users DROP COLUMN legacy;",
        "CREATE TABLE IF NOT EXISTS tmp (a bigint, b text);\nALTER TABLE tmp DROP COLUMN b;",
        {},
    ),
    (
        "pg-drop-table",
        "postgres",
        "DROP TABLE legacy_users;",
        "CREATE TABLE IF NOT EXISTS scratch (id bigint);\nDROP TABLE IF EXISTS scratch;",
        {},
    ),
    (
        "pg-drop-not-null",
        "postgres",
        "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;",
        "ALTER TABLE users ALTER COLUMN email SET DEFAULT '';",
        {},
    ),
    (
        "pg-enum-add-value-unordered",
        "postgres",
        "ALTER TYPE mood ADD VALUE 'meh';",
        "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh' AFTER 'ok';",
        {},
    ),
    (
        "pg-enum-rename-value",
        "postgres",
        "ALTER TYPE mood RENAME VALUE 'ok' TO 'fine';",
        "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'fine' AFTER 'ok';",
        {},
    ),
    (
        "pg-create-enum",
        "postgres",
        "CREATE TYPE mood AS ENUM ('sad', 'ok');",
        "CREATE TABLE IF NOT EXISTS moods (name text PRIMARY KEY);",
        {},
    ),
    (
        "pg-json-column",
        "postgres",
        "ALTER TABLE events ADD COLUMN IF NOT EXISTS payload json;",
        "ALTER TABLE events ADD COLUMN IF NOT EXISTS payload jsonb;",
        {},
    ),
    (
        "pg-missing-lock-timeout",
        "postgres",
        "ALTER TABLE users ADD COLUMN IF NOT EXISTS nick text;",
        "SET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN IF NOT EXISTS nick text;",
        {},
    ),
    (
        "pg-missing-statement-timeout",
        "postgres",
        "SET lock_timeout = '2s';\nCREATE INDEX IF NOT EXISTS i ON t (a);",
        "SET lock_timeout = '2s';\nSET statement_timeout = '5min';\nCREATE INDEX IF NOT EXISTS i ON t (a);",
        {},
    ),
    (
        "pg-statements-after-access-exclusive",
        "postgres",
        (
            "BEGIN;\nSET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN IF NOT EXISTS nick text;\n"
            "ALTER TABLE orders ADD COLUMN IF NOT EXISTS note text;\nCOMMIT;"
        ),
        (
            "BEGIN;\nSET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN IF NOT EXISTS nick text;\n"
            "COMMIT;\nBEGIN;\nSET lock_timeout = '2s';\n"
            "ALTER TABLE orders ADD COLUMN IF NOT EXISTS note text;\nCOMMIT;"
        ),
        {},
    ),
    (
        "pg-reindex-nonconcurrent",
        "postgres",
        "REINDEX INDEX idx_users_email;",
        "REINDEX INDEX CONCURRENTLY idx_users_email;",
        {},
    ),
    ("pg-vacuum-full", "postgres", "VACUUM FULL users;", "VACUUM users;", {}),
    ("pg-cluster", "postgres", "CLUSTER users USING users_pkey;", "ANALYZE users;", {}),
    (
        "pg-detach-partition-nonconcurrent",
        "postgres",
        "ALTER TABLE measurements DETACH PARTITION measurements_2020;",
        "ALTER TABLE measurements DETACH PARTITION measurements_2020 CONCURRENTLY;",
        {},
    ),
    (
        "pg-alter-table-rewrite",
        "postgres",
        "ALTER TABLE users SET LOGGED;",
        "ALTER TABLE users SET (fillfactor = 90);",
        {},
    ),
    (
        "pg-backfill-in-ddl-transaction",
        "postgres",
        (
            "BEGIN;\nALTER TABLE users ADD COLUMN IF NOT EXISTS nick text;\nUPDATE users SET nick = name;\n"
            "COMMIT;"
        ),
        (
            "BEGIN;\nALTER TABLE users ADD COLUMN IF NOT EXISTS nick text;\nCOMMIT;\n"
            "UPDATE users SET nick = name WHERE id BETWEEN 1 AND 1000;"
        ),
        {},
    ),
    (
        "pg-not-rerunnable",
        "postgres",
        "CREATE TABLE accounts (id bigint);",
        "CREATE TABLE IF NOT EXISTS accounts (id bigint);",
        {},
    ),
    (
        "pg-precheck-existing-data",
        "postgres",
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_email_key ON users (email);",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);",
        {},
    ),
    (
        "pg-foreign-key-without-index",
        "postgres",
        "CREATE TABLE IF NOT EXISTS orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));",
        (
            "CREATE TABLE IF NOT EXISTS orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));\n"
            "CREATE INDEX IF NOT EXISTS orders_user_id_idx ON orders (user_id);"
        ),
        {},
    ),
    (
        "pg-prefer-bigint",
        "postgres",
        "CREATE TABLE IF NOT EXISTS a (n int);",
        "CREATE TABLE IF NOT EXISTS a (n bigint);",
        {},
    ),
    (
        "pg-prefer-identity",
        "postgres",
        "CREATE TABLE IF NOT EXISTS a (id bigserial);",
        "CREATE TABLE IF NOT EXISTS a (id bigint GENERATED BY DEFAULT AS IDENTITY);",
        {},
    ),
    (
        "pg-prefer-text",
        "postgres",
        "CREATE TABLE IF NOT EXISTS a (name varchar(20));",
        "CREATE TABLE IF NOT EXISTS a (name text);",
        {},
    ),
    (
        "pg-prefer-timestamptz",
        "postgres",
        "CREATE TABLE IF NOT EXISTS a (at timestamp);",
        "CREATE TABLE IF NOT EXISTS a (at timestamptz);",
        {},
    ),
    (
        "pg-ban-char",
        "postgres",
        "CREATE TABLE IF NOT EXISTS a (code char(2));",
        "CREATE TABLE IF NOT EXISTS a (code text);",
        {},
    ),
    (
        "pg-identifier-too-long",
        "postgres",
        "CREATE TABLE IF NOT EXISTS " + "a" * 64 + " (id bigint);",
        "CREATE TABLE IF NOT EXISTS " + "a" * 63 + " (id bigint);",
        {},
    ),
    ("pg-drop-database", "postgres", "DROP DATABASE app;", "SELECT 1;", {}),
    ("pg-truncate-cascade", "postgres", "TRUNCATE users CASCADE;", "TRUNCATE users;", {}),
    (
        "pg-domain-check-constraint",
        "postgres",
        "CREATE DOMAIN positive AS bigint CHECK (VALUE > 0);",
        "CREATE DOMAIN positive AS bigint;",
        {},
    ),
    (
        "pg-transaction-nesting",
        "postgres",
        "BEGIN;\nSELECT 1;\nCOMMIT;",
        "SELECT 1;",
        {"assume_in_transaction": True},
    ),
    (
        "pg-uncommitted-transaction",
        "postgres",
        "BEGIN;\nSELECT 1;",
        "BEGIN;\nSELECT 1;\nCOMMIT;",
        {},
    ),
    (
        "parse-error",
        "postgres",
        "CREAT TABLE x (id bigint);",
        "CREATE TABLE IF NOT EXISTS x (id bigint);",
        {},
    ),
    (
        "invalid-ignore",
        "postgres",
        "-- datamigration:ignore pg-drop-table\nDROP TABLE t;",
        "-- datamigration:ignore pg-drop-table archived in ticket 42\nDROP TABLE t;",
        {},
    ),
    (
        "unused-ignore",
        "postgres",
        "-- datamigration:ignore pg-drop-table not needed\nSELECT 1;",
        "SELECT 1;",
        {},
    ),
    (
        "mysql-alter-copies-table",
        "mysql",
        "ALTER TABLE users MODIFY COLUMN name VARCHAR(500) NOT NULL;",
        (
            "SET SESSION lock_wait_timeout = 5;\nALTER TABLE users ADD COLUMN nick VARCHAR(50), "
            "ALGORITHM=INSTANT;"
        ),
        {},
    ),
    (
        "mysql-alter-without-algorithm",
        "mysql",
        "ALTER TABLE users ADD COLUMN nick VARCHAR(50);",
        "ALTER TABLE users ADD COLUMN nick VARCHAR(50), ALGORITHM=INSTANT;",
        {},
    ),
    (
        "mysql-algorithm-copy",
        "mysql",
        "ALTER TABLE users ADD INDEX idx_nick (nick), ALGORITHM=COPY;",
        "ALTER TABLE users ADD INDEX idx_nick (nick), ALGORITHM=INPLACE, LOCK=NONE;",
        {},
    ),
    (
        "mysql-missing-lock-wait-timeout",
        "mysql",
        "ALTER TABLE users ADD COLUMN nick VARCHAR(50), ALGORITHM=INSTANT;",
        (
            "SET SESSION lock_wait_timeout = 5;\nALTER TABLE users ADD COLUMN nick VARCHAR(50), "
            "ALGORITHM=INSTANT;"
        ),
        {},
    ),
    (
        "mysql-rename-column",
        "mysql",
        "ALTER TABLE users RENAME COLUMN name TO full_name, ALGORITHM=INSTANT;",
        "ALTER TABLE users ADD COLUMN full_name VARCHAR(200), ALGORITHM=INSTANT;",
        {},
    ),
    (
        "mysql-rename-table",
        "mysql",
        "RENAME TABLE users TO accounts;",
        "CREATE TABLE accounts (id BIGINT PRIMARY KEY);",
        {},
    ),
    (
        "mysql-drop-column",
        "mysql",
        "ALTER TABLE users DROP COLUMN legacy, ALGORITHM=INSTANT;",
        "ALTER TABLE users ALTER COLUMN legacy SET DEFAULT NULL, ALGORITHM=INSTANT;",
        {},
    ),
    (
        "mysql-drop-table",
        "mysql",
        "DROP TABLE legacy;",
        "CREATE TABLE t2 (id BIGINT);\nDROP TABLE t2;",
        {},
    ),
    (
        "sqlite-alter-needs-rebuild",
        "sqlite",
        "ALTER TABLE users ADD COLUMN status TEXT NOT NULL;",
        "ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT 'active';",
        {},
    ),
    (
        "sqlite-rename-column",
        "sqlite",
        "ALTER TABLE users RENAME COLUMN name TO full_name;",
        "ALTER TABLE users ADD COLUMN full_name TEXT;",
        {},
    ),
    (
        "sqlite-rename-table",
        "sqlite",
        "ALTER TABLE users RENAME TO accounts;",
        "CREATE VIEW accounts AS SELECT * FROM users;",
        {},
    ),
    (
        "sqlite-drop-column",
        "sqlite",
        "ALTER TABLE users DROP COLUMN legacy;",
        "CREATE TABLE t2 (a INTEGER, b TEXT);\nALTER TABLE t2 DROP COLUMN b;",
        {},
    ),
    (
        "sqlite-drop-table",
        "sqlite",
        "DROP TABLE legacy;",
        "CREATE TABLE t2 (id INTEGER);\nDROP TABLE t2;",
        {},
    ),
]
