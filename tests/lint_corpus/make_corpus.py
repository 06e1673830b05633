"""Writes the labelled corpus in tests/lint_corpus/files/ (run once; the files are committed).

Every file starts with `-- dialect: <d>` and `-- expect: <rule ids>` (rules it must produce)
and optionally `-- expect-not: <rule ids>` (rules it must not produce). The first 124 files are
the golden pairs (unsafe + safe per rule); the rest are whole migrations as teams write them,
including the cases squawk misses (json columns, statements after an ACCESS EXCLUSIVE lock,
foreign keys without an index, exclusion constraints, MySQL and SQLite).
"""

from __future__ import annotations

from pathlib import Path

from lint_corpus.golden_cases import CASES

OUT = Path(__file__).parent / "files"
#: Rules a golden safe file must also not produce (the safe variant is safe for them too).
EXTRA_NOT = {
    "pg-foreign-key-without-index": ["pg-create-index-nonconcurrent"],
    "invalid-ignore": ["pg-drop-table"],
}

SCENARIOS: list[tuple[str, str, list[str], list[str], str]] = [
    (
        "add_column_safe_default",
        "postgres",
        [],
        ["pg-add-column-volatile-default"],
        (
            "SET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN IF NOT EXISTS active boolean "
            "NOT NULL DEFAULT true;"
        ),
    ),
    (
        "add_column_now_default",
        "postgres",
        [],
        ["pg-add-column-volatile-default"],
        (
            "SET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN IF NOT EXISTS seen_at timestamptz "
            "DEFAULT now();"
        ),
    ),
    (
        "add_column_default_pg10",
        "postgres",
        ["pg-add-column-volatile-default"],
        [],
        "-- pg-version: 10\nALTER TABLE users ADD COLUMN flag boolean DEFAULT false;",
    ),
    (
        "varchar_grow_known_type",
        "postgres",
        [],
        ["pg-change-column-type"],
        (
            "CREATE TABLE IF NOT EXISTS notes (body varchar(100));\n"
            "ALTER TABLE notes ALTER COLUMN body TYPE varchar(500);"
        ),
    ),
    (
        "int_to_bigint",
        "postgres",
        ["pg-change-column-type"],
        [],
        "ALTER TABLE orders ALTER COLUMN id TYPE bigint;",
    ),
    (
        "type_change_using",
        "postgres",
        ["pg-change-column-type"],
        [],
        "ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,2) USING total::numeric;",
    ),
    (
        "json_in_create_table",
        "postgres",
        ["pg-json-column"],
        [],
        "CREATE TABLE IF NOT EXISTS audit (id bigint PRIMARY KEY, payload json);",
    ),
    (
        "json_add_column",
        "postgres",
        ["pg-json-column"],
        [],
        "SET lock_timeout = '2s';\nALTER TABLE events ADD COLUMN IF NOT EXISTS meta json;",
    ),
    (
        "json_alter_type",
        "postgres",
        ["pg-json-column", "pg-change-column-type"],
        [],
        "ALTER TABLE events ALTER COLUMN meta TYPE json;",
    ),
    (
        "two_alters_one_transaction",
        "postgres",
        ["pg-statements-after-access-exclusive"],
        [],
        (
            "BEGIN;\nSET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN IF NOT EXISTS a text;\n"
            "ALTER TABLE users ADD COLUMN IF NOT EXISTS b text;\nCOMMIT;"
        ),
    ),
    (
        "alter_then_update_tx",
        "postgres",
        ["pg-statements-after-access-exclusive", "pg-backfill-in-ddl-transaction"],
        [],
        (
            "BEGIN;\nSET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN IF NOT EXISTS c text;\n"
            "UPDATE users SET c = 'x';\nCOMMIT;"
        ),
    ),
    (
        "alter_then_index_tx",
        "postgres",
        ["pg-statements-after-access-exclusive", "pg-create-index-nonconcurrent"],
        [],
        (
            "BEGIN;\nSET lock_timeout = '2s';\nALTER TABLE orders RENAME COLUMN total TO amount;\n"
            "CREATE INDEX orders_amount_idx ON orders (amount);\nCOMMIT;"
        ),
    ),
    (
        "framework_wrapped_alters",
        "postgres",
        ["pg-statements-after-access-exclusive"],
        [],
        (
            "-- assume-in-transaction\nSET lock_timeout = '2s';\n"
            "ALTER TABLE users DROP COLUMN IF EXISTS legacy;\n"
            "ALTER TABLE users ADD COLUMN IF NOT EXISTS newer text;"
        ),
    ),
    (
        "framework_wrapped_concurrently",
        "postgres",
        ["pg-concurrently-in-transaction"],
        [],
        "-- assume-in-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (email);",
    ),
    (
        "fk_new_table_no_index",
        "postgres",
        ["pg-foreign-key-without-index"],
        [],
        (
            "CREATE TABLE IF NOT EXISTS comments (id bigint PRIMARY KEY, post_id bigint NOT NULL "
            "REFERENCES posts (id), body text);"
        ),
    ),
    (
        "fk_new_table_with_index",
        "postgres",
        [],
        ["pg-foreign-key-without-index", "pg-create-index-nonconcurrent"],
        (
            "CREATE TABLE IF NOT EXISTS comments (id bigint PRIMARY KEY, post_id bigint NOT NULL "
            "REFERENCES posts (id), body text);\n"
            "CREATE INDEX IF NOT EXISTS comments_post_id_idx ON comments (post_id);"
        ),
    ),
    (
        "fk_table_constraint_no_index",
        "postgres",
        ["pg-foreign-key-without-index"],
        [],
        (
            "CREATE TABLE IF NOT EXISTS likes (user_id bigint, post_id bigint, "
            "PRIMARY KEY (user_id, post_id), FOREIGN KEY (post_id) REFERENCES posts (id));"
        ),
    ),
    (
        "fk_covered_by_pk",
        "postgres",
        [],
        ["pg-foreign-key-without-index"],
        (
            "CREATE TABLE IF NOT EXISTS likes (user_id bigint, post_id bigint, "
            "PRIMARY KEY (user_id, post_id), FOREIGN KEY (user_id) REFERENCES users (id));"
        ),
    ),
    (
        "exclusion_on_existing",
        "postgres",
        ["pg-add-exclusion-constraint"],
        [],
        (
            "SET lock_timeout = '2s';\nALTER TABLE reservations ADD CONSTRAINT no_double_booking "
            "EXCLUDE USING gist (room_id WITH =, during WITH &&);"
        ),
    ),
    (
        "exclusion_on_new_table",
        "postgres",
        [],
        ["pg-add-exclusion-constraint"],
        (
            "CREATE TABLE IF NOT EXISTS slots (room bigint, during tstzrange);\n"
            "ALTER TABLE slots ADD CONSTRAINT slots_excl EXCLUDE USING gist (room WITH =, during WITH &&);"
        ),
    ),
    (
        "new_table_everything_exempt",
        "postgres",
        [],
        ["pg-create-index-nonconcurrent", "pg-add-foreign-key", "pg-set-not-null"],
        (
            "CREATE TABLE IF NOT EXISTS invoices (id bigint PRIMARY KEY, customer_id bigint, total numeric);\n"
            "CREATE INDEX IF NOT EXISTS invoices_customer_idx ON invoices (customer_id);\n"
            "ALTER TABLE invoices ADD CONSTRAINT invoices_customer_fk FOREIGN KEY (customer_id) "
            "REFERENCES customers (id);\nALTER TABLE invoices ALTER COLUMN total SET NOT NULL;"
        ),
    ),
    (
        "safe_not_null_sequence",
        "postgres",
        [],
        ["pg-set-not-null"],
        (
            "SET lock_timeout = '2s';\nALTER TABLE users ADD CONSTRAINT users_email_nn CHECK "
            "(email IS NOT NULL) NOT VALID;\nALTER TABLE users VALIDATE CONSTRAINT users_email_nn;\n"
            "ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n"
            "ALTER TABLE users DROP CONSTRAINT users_email_nn;"
        ),
    ),
    (
        "safe_fk_sequence",
        "postgres",
        [],
        ["pg-add-foreign-key", "pg-validate-in-same-transaction"],
        (
            "SET lock_timeout = '2s';\nALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY "
            "(user_id) REFERENCES users (id) NOT VALID;\n"
            "ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;"
        ),
    ),
    (
        "safe_unique_sequence",
        "postgres",
        [],
        ["pg-add-unique-constraint"],
        (
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_email_key ON users (email);\n"
            "SET lock_timeout = '2s';\n"
            "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;"
        ),
    ),
    (
        "inline_references_add_column",
        "postgres",
        ["pg-add-foreign-key"],
        [],
        (
            "SET lock_timeout = '2s';\nALTER TABLE orders ADD COLUMN IF NOT EXISTS coupon_id bigint "
            "REFERENCES coupons (id);"
        ),
    ),
    (
        "identity_add_column",
        "postgres",
        ["pg-add-column-serial"],
        [],
        "ALTER TABLE events ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;",
    ),
    (
        "unknown_function_default",
        "postgres",
        ["pg-add-column-volatile-default"],
        [],
        "ALTER TABLE users ADD COLUMN code text DEFAULT make_code();",
    ),
    (
        "drop_index_two",
        "postgres",
        ["pg-drop-index-nonconcurrent"],
        [],
        "DROP INDEX IF EXISTS a_idx, b_idx;",
    ),
    ("reindex_table", "postgres", ["pg-reindex-nonconcurrent"], [], "REINDEX TABLE users;"),
    (
        "reindex_concurrently_in_tx",
        "postgres",
        ["pg-concurrently-in-transaction"],
        [],
        "BEGIN;\nREINDEX TABLE CONCURRENTLY users;\nCOMMIT;",
    ),
    (
        "detach_concurrently_in_tx",
        "postgres",
        ["pg-concurrently-in-transaction"],
        [],
        "BEGIN;\nALTER TABLE m DETACH PARTITION m_2019 CONCURRENTLY;\nCOMMIT;",
    ),
    (
        "set_tablespace",
        "postgres",
        ["pg-alter-table-rewrite"],
        [],
        "ALTER TABLE big SET TABLESPACE fast_ssd;",
    ),
    (
        "alter_domain_add_check",
        "postgres",
        ["pg-domain-check-constraint"],
        [],
        "ALTER DOMAIN positive ADD CONSTRAINT positive_check CHECK (VALUE > 0);",
    ),
    (
        "nested_begin",
        "postgres",
        ["pg-transaction-nesting"],
        [],
        "BEGIN;\nBEGIN;\nSELECT 1;\nCOMMIT;\nCOMMIT;",
    ),
    (
        "ignored_with_reason",
        "postgres",
        [],
        ["pg-drop-table", "unused-ignore"],
        "-- datamigration:ignore pg-drop-table archived to s3 in ticket 812\nDROP TABLE IF EXISTS old_logs;",
    ),
    (
        "garbage_statement",
        "postgres",
        ["parse-error"],
        [],
        "SELECT 1;\nALTER TABLE users ADD COLUMN;\nSELECT 2;",
    ),
    (
        "dollar_quoted_function",
        "postgres",
        [],
        ["parse-error"],
        (
            "CREATE OR REPLACE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
            "  NEW.x := 1; RETURN NEW;\nEND $$;"
        ),
    ),
    (
        "mysql_change_rename",
        "mysql",
        ["mysql-rename-column", "mysql-alter-copies-table"],
        [],
        "SET SESSION lock_wait_timeout = 5;\nALTER TABLE users CHANGE name full_name VARCHAR(200);",
    ),
    (
        "mysql_add_pk",
        "mysql",
        ["mysql-alter-copies-table"],
        [],
        "SET SESSION lock_wait_timeout = 5;\nALTER TABLE events ADD PRIMARY KEY (id);",
    ),
    (
        "mysql_convert_charset",
        "mysql",
        ["mysql-alter-copies-table"],
        [],
        "SET SESSION lock_wait_timeout = 5;\nALTER TABLE users CONVERT TO CHARACTER SET utf8mb4;",
    ),
    (
        "mysql_add_fk",
        "mysql",
        ["mysql-alter-copies-table"],
        [],
        (
            "SET SESSION lock_wait_timeout = 5;\nALTER TABLE orders ADD CONSTRAINT fk_user FOREIGN KEY "
            "(user_id) REFERENCES users (id);"
        ),
    ),
    (
        "mysql_add_fk_checks_off",
        "mysql",
        [],
        ["mysql-alter-copies-table"],
        (
            "SET SESSION lock_wait_timeout = 5;\nSET foreign_key_checks = 0;\nALTER TABLE orders ADD "
            "CONSTRAINT fk_user FOREIGN KEY (user_id) REFERENCES users (id), ALGORITHM=INPLACE, LOCK=NONE;"
        ),
    ),
    (
        "mysql_create_index_plain",
        "mysql",
        ["mysql-alter-without-algorithm"],
        [],
        "SET SESSION lock_wait_timeout = 5;\nCREATE INDEX idx_email ON users (email);",
    ),
    (
        "mysql_lock_exclusive",
        "mysql",
        ["mysql-algorithm-copy"],
        [],
        "SET SESSION lock_wait_timeout = 5;\nALTER TABLE users ADD INDEX idx_a (a), LOCK=EXCLUSIVE;",
    ),
    (
        "mysql_new_table_exempt",
        "mysql",
        [],
        ["mysql-alter-without-algorithm"],
        "CREATE TABLE widgets (id BIGINT PRIMARY KEY);\nALTER TABLE widgets ADD COLUMN name VARCHAR(50);",
    ),
    ("mysql_garbage", "mysql", ["parse-error"], [], "ALTER TABLE ADD COLUMN;"),
    (
        "sqlite_alter_type",
        "sqlite",
        ["sqlite-alter-needs-rebuild"],
        [],
        "ALTER TABLE users ALTER COLUMN age TYPE BIGINT;",
    ),
    (
        "sqlite_add_unique_column",
        "sqlite",
        ["sqlite-alter-needs-rebuild"],
        [],
        "ALTER TABLE users ADD COLUMN handle TEXT UNIQUE;",
    ),
    (
        "sqlite_add_constraint",
        "sqlite",
        ["sqlite-alter-needs-rebuild"],
        [],
        "ALTER TABLE users ADD CONSTRAINT age_positive CHECK (age > 0);",
    ),
    (
        "sqlite_default_expression",
        "sqlite",
        ["sqlite-alter-needs-rebuild"],
        [],
        "ALTER TABLE users ADD COLUMN created_at TEXT DEFAULT CURRENT_TIMESTAMP;",
    ),
    (
        "sqlite_safe_add",
        "sqlite",
        [],
        ["sqlite-alter-needs-rebuild"],
        "ALTER TABLE users ADD COLUMN nickname TEXT;",
    ),
    (
        "sqlite_trigger_body",
        "sqlite",
        [],
        ["parse-error"],
        (
            "CREATE TRIGGER users_touch AFTER UPDATE ON users BEGIN\n  UPDATE users SET updated = 1 "
            "WHERE id = NEW.id;\nEND;"
        ),
    ),
]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.sql"):
        old.unlink()
    n = 0
    for rule, dialect, unsafe, safe, extra in CASES:
        head = f"-- dialect: {dialect}\n"
        if extra.get("assume_in_transaction"):
            head += "-- assume-in-transaction\n"
        if extra.get("column_types"):
            continue_safe = False
        else:
            continue_safe = True
        n += 1
        (OUT / f"{n:03d}_{rule}_unsafe.sql").write_text(f"{head}-- expect: {rule}\n{unsafe}\n")
        if continue_safe:
            n += 1
            not_ = ", ".join([rule, *EXTRA_NOT.get(rule, [])])
            (OUT / f"{n:03d}_{rule}_safe.sql").write_text(f"{head}-- expect-not: {not_}\n{safe}\n")
    for name, dialect, expect, expect_not, body in SCENARIOS:
        n += 1
        lines = [f"-- dialect: {dialect}", f"-- expect: {', '.join(expect)}"]
        if expect_not:
            lines.append(f"-- expect-not: {', '.join(expect_not)}")
        (OUT / f"{n:03d}_{name}.sql").write_text("\n".join(lines) + "\n" + body + "\n")
    print(f"{n} files in {OUT}")


if __name__ == "__main__":
    main()
