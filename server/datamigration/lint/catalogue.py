"""The rule catalogue: every check the linter knows, with a stable id and what to do instead.

Ids never change once published (users write them in ignore comments and CI configs). Each rule
says which lock the operation takes, why that hurts in production, the safe multi-step
alternative, and the name of the same check in squawk, strong_migrations and eugene so a team
can switch tools without relearning. docs/lint-rules.md is generated from this table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datamigration.errors import NotFoundError


@dataclass(frozen=True)
class Rule:
    id: str
    dialect: str  # postgres | mysql | sqlite | any
    title: str
    severity: str  # error | warning | info
    category: str  # locking | breaking | hygiene | context | meta
    lock: str
    why: str
    safe: str
    equivalents: dict[str, str] = field(default_factory=dict)
    #: live table size decides severity (an empty or new table is not a risk).
    size_sensitive: bool = False


def _r(id, dialect, title, severity, category, lock, why, safe, size=False, **eq) -> Rule:
    eq = {k: v for k, v in eq.items() if v}
    return Rule(id, dialect, title, severity, category, lock, why, safe, eq, size)


_PG = [
    _r(
        "pg-create-index-nonconcurrent",
        "postgres",
        "CREATE INDEX without CONCURRENTLY",
        "error",
        "locking",
        "SHARE",
        "Blocks every INSERT, UPDATE and DELETE on the table for the whole index build.",
        "CREATE INDEX CONCURRENTLY outside a transaction; check pg_index.indisvalid afterwards "
        "and drop an invalid index before retrying.",
        True,
        squawk="require-concurrent-index-creation",
        strong_migrations="add_index",
        eugene="E6 new_index_on_existing_table_is_nonconcurrent",
    ),
    _r(
        "pg-drop-index-nonconcurrent",
        "postgres",
        "DROP INDEX without CONCURRENTLY",
        "warning",
        "locking",
        "ACCESS EXCLUSIVE",
        "Takes ACCESS EXCLUSIVE on the table; while it waits in the lock queue every query on the "
        "table waits behind it.",
        "DROP INDEX CONCURRENTLY IF EXISTS, as its own statement outside a transaction.",
        True,
        squawk="require-concurrent-index-deletion",
    ),
    _r(
        "pg-concurrently-in-transaction",
        "postgres",
        "CONCURRENTLY inside a transaction",
        "error",
        "context",
        "-",
        "CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY and DETACH PARTITION CONCURRENTLY "
        "cannot run inside a transaction block: the migration fails.",
        "Run the statement on its own, outside BEGIN/COMMIT (Alembic: autocommit_block(); Django: "
        "atomic = False; Rails: disable_ddl_transaction!).",
        squawk="ban-concurrent-index-creation-in-transaction",
    ),
    _r(
        "pg-add-column-volatile-default",
        "postgres",
        "ADD COLUMN with a volatile default (or any default before PostgreSQL 11)",
        "error",
        "locking",
        "ACCESS EXCLUSIVE + table rewrite",
        "A volatile default (random(), gen_random_uuid(), clock_timestamp(), nextval) is evaluated "
        "per row, so PostgreSQL rewrites the whole table while holding ACCESS EXCLUSIVE.",
        "Add the column nullable without default, SET DEFAULT for new rows, backfill existing "
        "rows in keyset batches outside the DDL transaction.",
        True,
        squawk="adding-field-with-default",
        strong_migrations="add_column_default_callable / add_column_default",
    ),
    _r(
        "pg-add-column-serial",
        "postgres",
        "ADD COLUMN serial / identity on an existing table",
        "error",
        "locking",
        "ACCESS EXCLUSIVE + table rewrite",
        "A serial or identity column fills every existing row from a sequence: full rewrite under "
        "ACCESS EXCLUSIVE.",
        "Add a nullable bigint column, create the sequence and SET DEFAULT nextval(...), backfill "
        "in batches, then add NOT NULL via a validated CHECK.",
        True,
        strong_migrations="add_column_auto_incrementing",
        eugene="E11 added_serial_column",
    ),
    _r(
        "pg-add-column-stored-generated",
        "postgres",
        "ADD COLUMN ... GENERATED ALWAYS AS ... STORED",
        "error",
        "locking",
        "ACCESS EXCLUSIVE + table rewrite",
        "A stored generated column is computed for every existing row: full rewrite under ACCESS "
        "EXCLUSIVE.",
        "Add a plain nullable column, keep it in sync with a trigger, backfill in batches (or "
        "compute it in a view / at read time).",
        True,
        squawk="adding-field-with-default",
        strong_migrations="add_column_generated_stored",
        eugene="E11 added_serial_column",
    ),
    _r(
        "pg-add-column-required",
        "postgres",
        "ADD COLUMN NOT NULL without a default",
        "error",
        "breaking",
        "ACCESS EXCLUSIVE",
        "Fails on any table that already has rows, and breaks running clients that insert without "
        "the new column.",
        "Add it with a constant default (no rewrite since PostgreSQL 11), or nullable -> backfill "
        "-> CHECK (c IS NOT NULL) NOT VALID -> VALIDATE -> SET NOT NULL.",
        True,
        squawk="adding-required-field",
    ),
    _r(
        "pg-set-not-null",
        "postgres",
        "ALTER COLUMN SET NOT NULL",
        "error",
        "locking",
        "ACCESS EXCLUSIVE + full scan",
        "Scans the whole table to check for NULLs while holding ACCESS EXCLUSIVE: no reads or "
        "writes until it finishes.",
        "ADD CONSTRAINT ... CHECK (c IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT in its own "
        "transaction; then SET NOT NULL (PostgreSQL 12+ skips the scan); drop the CHECK.",
        True,
        squawk="adding-not-nullable-field",
        strong_migrations="change_column_null",
        eugene="E2 make_column_not_nullable_with_lock",
    ),
    _r(
        "pg-add-check-constraint",
        "postgres",
        "ADD CHECK constraint without NOT VALID",
        "error",
        "locking",
        "ACCESS EXCLUSIVE + full scan",
        "Validates every row while holding ACCESS EXCLUSIVE.",
        "ADD CONSTRAINT ... NOT VALID (instant), then VALIDATE CONSTRAINT in a separate "
        "transaction (SHARE UPDATE EXCLUSIVE: reads and writes continue).",
        True,
        squawk="constraint-missing-not-valid",
        strong_migrations="add_check_constraint",
        eugene="E1 validate_constraint_with_lock",
    ),
    _r(
        "pg-add-foreign-key",
        "postgres",
        "ADD FOREIGN KEY without NOT VALID",
        "error",
        "locking",
        "SHARE ROW EXCLUSIVE on both tables + full scan",
        "Scans the referencing table while blocking writes to it and to the referenced table.",
        "ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID, then VALIDATE CONSTRAINT in a separate "
        "transaction; index the referencing columns CONCURRENTLY.",
        True,
        squawk="adding-foreign-key-constraint",
        strong_migrations="add_foreign_key",
        eugene="E1 validate_constraint_with_lock",
    ),
    _r(
        "pg-validate-in-same-transaction",
        "postgres",
        "VALIDATE CONSTRAINT in the transaction that added it NOT VALID",
        "warning",
        "locking",
        "ACCESS EXCLUSIVE held from the ADD",
        "The ADD's ACCESS EXCLUSIVE lock is still held while VALIDATE scans the table, which "
        "undoes the point of NOT VALID.",
        "COMMIT after ADD ... NOT VALID; VALIDATE CONSTRAINT in the next transaction.",
        True,
        squawk="constraint-missing-not-valid",
        strong_migrations="add_foreign_key (validate: false)",
    ),
    _r(
        "pg-add-unique-constraint",
        "postgres",
        "ADD UNIQUE constraint",
        "error",
        "locking",
        "ACCESS EXCLUSIVE + index build",
        "Builds the unique index while holding ACCESS EXCLUSIVE, and fails half-way when "
        "duplicates exist.",
        "Check for duplicates, CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... UNIQUE "
        "USING INDEX (instant).",
        True,
        squawk="disallowed-unique-constraint",
        strong_migrations="add_unique_constraint",
        eugene="E7 new_unique_constraint_created_index",
    ),
    _r(
        "pg-add-primary-key",
        "postgres",
        "ADD PRIMARY KEY without USING INDEX",
        "error",
        "locking",
        "ACCESS EXCLUSIVE + index build (+ NOT NULL scan)",
        "Builds the index (and checks NOT NULL) while holding ACCESS EXCLUSIVE.",
        "Make the columns NOT NULL safely first, CREATE UNIQUE INDEX CONCURRENTLY, then ADD "
        "CONSTRAINT ... PRIMARY KEY USING INDEX.",
        True,
        squawk="adding-serial-primary-key-field",
        eugene="E7 new_unique_constraint_created_index",
    ),
    _r(
        "pg-add-exclusion-constraint",
        "postgres",
        "ADD EXCLUDE constraint",
        "error",
        "locking",
        "ACCESS EXCLUSIVE + index build",
        "An exclusion constraint cannot be added NOT VALID or from an existing index: there is no "
        "online way to add it to a populated table.",
        "Create a new table with the constraint, copy rows in batches and swap, or schedule a "
        "maintenance window.",
        True,
        strong_migrations="add_exclusion_constraint",
        eugene="E8 new_exclusion_constraint_found",
    ),
    _r(
        "pg-change-column-type",
        "postgres",
        "ALTER COLUMN TYPE that rewrites the table",
        "error",
        "locking",
        "ACCESS EXCLUSIVE + table rewrite (+ index rebuilds)",
        "Rewrites the table and its indexes under ACCESS EXCLUSIVE; clients may break on the new "
        "type.",
        "Expand-contract: add the new column, keep it in sync with a trigger, backfill in batches, "
        "switch reads, then drop the old column. (varchar growth, varchar->text, numeric "
        "precision growth do not rewrite.)",
        True,
        squawk="changing-column-type",
        strong_migrations="change_column",
        eugene="E5 type_change_requires_table_rewrite",
    ),
    _r(
        "pg-rename-column",
        "postgres",
        "RENAME COLUMN",
        "warning",
        "breaking",
        "ACCESS EXCLUSIVE",
        "Running application versions still use the old name and fail at once.",
        "Expand-contract: add the new column, sync both with a trigger, backfill, move readers and "
        "writers, drop the old column later (or expose the old name through a view).",
        squawk="renaming-column",
        strong_migrations="rename_column",
    ),
    _r(
        "pg-rename-table",
        "postgres",
        "RENAME TABLE",
        "warning",
        "breaking",
        "ACCESS EXCLUSIVE",
        "Running application versions still use the old name and fail at once.",
        "Rename, then create a view under the old name (simple views are updatable) until every "
        "client moved; drop the view later.",
        squawk="renaming-table",
        strong_migrations="rename_table",
    ),
    _r(
        "pg-drop-column",
        "postgres",
        "DROP COLUMN",
        "warning",
        "breaking",
        "ACCESS EXCLUSIVE",
        "Clients that still select or insert the column fail; the data is gone.",
        "Stop using the column in the code (Rails: ignored_columns), deploy, back it up, drop it "
        "in a later migration.",
        squawk="ban-drop-column",
        strong_migrations="remove_column",
    ),
    _r(
        "pg-drop-table",
        "postgres",
        "DROP TABLE",
        "warning",
        "breaking",
        "ACCESS EXCLUSIVE",
        "Clients that still use the table fail; the data is gone.",
        "Stop using the table, deploy, back it up (or rename it aside), drop it later.",
        squawk="ban-drop-table",
    ),
    _r(
        "pg-drop-not-null",
        "postgres",
        "ALTER COLUMN DROP NOT NULL",
        "warning",
        "breaking",
        "ACCESS EXCLUSIVE (brief)",
        "Readers that assume a value start receiving NULL.",
        "Make every reader tolerate NULL and deploy first, then drop NOT NULL.",
        squawk="ban-drop-not-null",
    ),
    _r(
        "pg-enum-add-value-unordered",
        "postgres",
        "ALTER TYPE ... ADD VALUE without BEFORE/AFTER",
        "info",
        "hygiene",
        "ACCESS EXCLUSIVE on the type (brief)",
        "The value is appended at the end, so ORDER BY on the enum may not sort as intended; "
        "before PostgreSQL 12 it cannot run inside a transaction.",
        "ADD VALUE IF NOT EXISTS ... BEFORE/AFTER an existing value, outside a transaction.",
        squawk="require-enum-value-ordering",
    ),
    _r(
        "pg-enum-rename-value",
        "postgres",
        "ALTER TYPE ... RENAME VALUE",
        "warning",
        "breaking",
        "ACCESS EXCLUSIVE on the type (brief)",
        "Running application versions still write the old label and fail.",
        "Add the new value, make the application accept both, backfill rows, stop writing the old "
        "value; enum values cannot be dropped, so consider a lookup table.",
    ),
    _r(
        "pg-create-enum",
        "postgres",
        "CREATE TYPE ... AS ENUM",
        "info",
        "hygiene",
        "-",
        "Enum values can be added but never removed or reordered without rewriting every table "
        "that uses the type.",
        "A lookup table with a foreign key, or text with a CHECK constraint (NOT VALID + "
        "VALIDATE to change it).",
        eugene="W13 creating_enum",
    ),
    _r(
        "pg-json-column",
        "postgres",
        "json column",
        "warning",
        "hygiene",
        "-",
        "json has no equality operator (DISTINCT, GROUP BY, UNION break), keeps whitespace and "
        "duplicate keys and cannot be indexed with GIN.",
        "Use jsonb.",
        strong_migrations="add_column_json",
        eugene="E3 add_json_column",
    ),
    _r(
        "pg-missing-lock-timeout",
        "postgres",
        "dangerous lock without lock_timeout",
        "warning",
        "context",
        "-",
        "A DDL statement waiting for its lock sits in the lock queue and blocks every later query "
        "on the table: an outage while it waits.",
        "SET lock_timeout = '2s' before the DDL and retry on SQLSTATE 55P03 with backoff and "
        "jitter.",
        True,
        squawk="require-timeout-settings / require-lock-timeout",
        eugene="E9 dangerous_lock_without_timeout",
    ),
    _r(
        "pg-missing-statement-timeout",
        "postgres",
        "slow statement without statement_timeout",
        "info",
        "context",
        "-",
        "Without statement_timeout a runaway statement holds its locks indefinitely.",
        "SET statement_timeout for the migration session (long CONCURRENTLY builds may need a "
        "larger value or 0 deliberately).",
        squawk="require-timeout-settings / require-statement-timeout",
    ),
    _r(
        "pg-statements-after-access-exclusive",
        "postgres",
        "more statements while ACCESS EXCLUSIVE is held",
        "warning",
        "locking",
        "ACCESS EXCLUSIVE until COMMIT",
        "Every statement after the one that took ACCESS EXCLUSIVE runs while the table is "
        "unreadable, so their durations add up.",
        "One dangerous lock per transaction: COMMIT right after the statement that takes ACCESS "
        "EXCLUSIVE, or move the others before it.",
        True,
        eugene="E4 running_statement_while_holding_access_exclusive",
    ),
    _r(
        "pg-reindex-nonconcurrent",
        "postgres",
        "REINDEX without CONCURRENTLY",
        "warning",
        "locking",
        "ACCESS EXCLUSIVE on the index, SHARE on the table",
        "Blocks writes to the table (and reads that use the index) while the index rebuilds.",
        "REINDEX ... CONCURRENTLY (PostgreSQL 12+) outside a transaction.",
        True,
        squawk="require-concurrent-reindex",
    ),
    _r(
        "pg-vacuum-full",
        "postgres",
        "VACUUM FULL",
        "error",
        "locking",
        "ACCESS EXCLUSIVE + table rewrite",
        "Rewrites the table while it can be neither read nor written.",
        "pg_repack (online), or plain VACUUM.",
        True,
        squawk="prefer-repack",
    ),
    _r(
        "pg-cluster",
        "postgres",
        "CLUSTER",
        "error",
        "locking",
        "ACCESS EXCLUSIVE + table rewrite",
        "Rewrites the table in index order while it can be neither read nor written.",
        "pg_repack --order-by (online).",
        True,
        squawk="prefer-repack",
    ),
    _r(
        "pg-detach-partition-nonconcurrent",
        "postgres",
        "DETACH PARTITION without CONCURRENTLY",
        "warning",
        "locking",
        "ACCESS EXCLUSIVE on parent and partition",
        "Blocks every query on the partitioned table.",
        "ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY (PostgreSQL 14+) outside a transaction.",
        True,
        squawk="require-concurrent-partition-detach",
    ),
    _r(
        "pg-alter-table-rewrite",
        "postgres",
        "SET TABLESPACE / SET LOGGED / SET UNLOGGED / SET ACCESS METHOD",
        "error",
        "locking",
        "ACCESS EXCLUSIVE + table rewrite",
        "Copies the whole table while it can be neither read nor written.",
        "Create the new table with the wanted storage, copy in batches with a sync trigger, swap "
        "names in a short transaction (or pg_repack --tablespace).",
        True,
        eugene="E10 rewrite_while_holding_dangerous_lock",
    ),
    _r(
        "pg-backfill-in-ddl-transaction",
        "postgres",
        "data change in the DDL transaction",
        "warning",
        "locking",
        "row locks + the DDL locks until COMMIT",
        "An UPDATE/DELETE/INSERT ... SELECT in the same transaction as DDL keeps the DDL locks "
        "for the whole backfill and makes one huge transaction.",
        "Run the backfill as a separate step: keyset batches of about 1000 rows, autocommit per "
        "batch, throttled.",
        True,
    ),
    _r(
        "pg-not-rerunnable",
        "postgres",
        "statement that cannot be re-run",
        "info",
        "hygiene",
        "-",
        "Outside a transaction a half-applied migration is stuck: re-running fails on the part "
        "that already happened.",
        "Use IF [NOT] EXISTS, or wrap the non-concurrent statements in a transaction; drop "
        "invalid indexes before retrying CREATE INDEX CONCURRENTLY.",
        squawk="prefer-robust-stmts",
    ),
    _r(
        "pg-precheck-existing-data",
        "postgres",
        "change that can fail on existing data",
        "info",
        "context",
        "-",
        "A unique index or NOT NULL on existing rows fails half-way when duplicates or NULLs "
        "exist (and CONCURRENTLY leaves an invalid index behind).",
        "Run the pre-check query first and fix the data; drop the invalid index if the build "
        "failed.",
    ),
    _r(
        "pg-foreign-key-without-index",
        "postgres",
        "foreign key without an index on its columns",
        "warning",
        "locking",
        "-",
        "Every DELETE or key UPDATE on the referenced table scans the referencing table; joins "
        "are slow.",
        "CREATE INDEX CONCURRENTLY on the referencing columns (as the leading columns).",
    ),
    _r(
        "pg-prefer-bigint",
        "postgres",
        "int / smallint column",
        "info",
        "hygiene",
        "-",
        "32-bit and 16-bit keys run out; widening later is a table rewrite.",
        "Use bigint.",
        squawk="prefer-bigint-over-int / prefer-bigint-over-smallint",
    ),
    _r(
        "pg-prefer-identity",
        "postgres",
        "serial column",
        "info",
        "hygiene",
        "-",
        "serial creates a loosely owned sequence with awkward permissions and dumps.",
        "bigint GENERATED BY DEFAULT AS IDENTITY.",
        squawk="prefer-identity",
    ),
    _r(
        "pg-prefer-text",
        "postgres",
        "varchar(n) column",
        "info",
        "hygiene",
        "-",
        "Shrinking or (before PG 9.2) growing the limit later needs ACCESS EXCLUSIVE; the limit "
        "buys nothing in storage.",
        "text with a CHECK (char_length(c) <= n) constraint, changed NOT VALID + VALIDATE.",
        squawk="prefer-text-field",
    ),
    _r(
        "pg-prefer-timestamptz",
        "postgres",
        "timestamp without time zone",
        "info",
        "hygiene",
        "-",
        "Stores wall-clock time with no zone: wrong results across zones and DST.",
        "timestamptz.",
        squawk="prefer-timestamp-tz",
    ),
    _r(
        "pg-ban-char",
        "postgres",
        "char(n) column",
        "info",
        "hygiene",
        "-",
        "char(n) pads with spaces and compares surprisingly; it is never faster than text.",
        "text (with a CHECK on length if needed).",
        squawk="ban-char-field",
    ),
    _r(
        "pg-identifier-too-long",
        "postgres",
        "identifier longer than 63 bytes",
        "error",
        "hygiene",
        "-",
        "PostgreSQL silently truncates names to 63 bytes; two long names can collide and later "
        "migrations do not find the object.",
        "Use a name of at most 63 bytes.",
        squawk="identifier-too-long",
    ),
    _r(
        "pg-drop-database",
        "postgres",
        "DROP DATABASE",
        "error",
        "breaking",
        "-",
        "Destroys every table of every client.",
        "Never in a migration; do it by hand after a verified backup.",
        squawk="ban-drop-database",
    ),
    _r(
        "pg-truncate-cascade",
        "postgres",
        "TRUNCATE ... CASCADE",
        "error",
        "breaking",
        "ACCESS EXCLUSIVE on every table reached",
        "Silently empties every table that references this one, recursively.",
        "TRUNCATE only the named tables (RESTRICT) after checking what references them.",
        squawk="ban-truncate-cascade",
    ),
    _r(
        "pg-domain-check-constraint",
        "postgres",
        "domain with a CHECK constraint",
        "warning",
        "locking",
        "full scan of every column using the domain",
        "Adding or changing a domain constraint scans every table that uses the domain and "
        "cannot be done online.",
        "Put CHECK constraints on the tables (NOT VALID + VALIDATE).",
        squawk="ban-create-domain-with-constraint / ban-alter-domain-with-add-constraint",
    ),
    _r(
        "pg-transaction-nesting",
        "postgres",
        "BEGIN inside a transaction",
        "error",
        "context",
        "-",
        "A nested BEGIN is ignored with a warning and the inner COMMIT ends the framework's "
        "transaction early.",
        "Let the framework manage the transaction, or turn its wrapping off for this migration.",
        squawk="transaction-nesting",
    ),
    _r(
        "pg-uncommitted-transaction",
        "postgres",
        "transaction never committed",
        "error",
        "context",
        "-",
        "A BEGIN without COMMIT leaves the transaction open: the changes are rolled back when the "
        "session ends, and the locks are held until then.",
        "Add COMMIT at the end of the file.",
        squawk="ban-uncommitted-transaction",
    ),
]

_MYSQL = [
    _r(
        "mysql-alter-copies-table",
        "mysql",
        "ALTER TABLE that copies the table",
        "error",
        "locking",
        "table copy; writes blocked (ALGORITHM=COPY)",
        "MODIFY/CHANGE of a column type, primary key changes, CONVERT TO CHARACTER SET, ENGINE=, "
        "FORCE and foreign keys with foreign_key_checks=1 copy every row; writes are blocked for "
        "the whole copy and replicas lag behind.",
        "Use ALGORITHM=INSTANT or INPLACE, LOCK=NONE where the operation supports it; otherwise "
        "an online schema change tool (gh-ost, pt-online-schema-change): shadow table, chunked "
        "copy, sync, throttle on replica lag, atomic rename.",
        True,
        strong_migrations="change_column",
    ),
    _r(
        "mysql-alter-without-algorithm",
        "mysql",
        "ALTER without ALGORITHM/LOCK clauses",
        "warning",
        "locking",
        "whatever the server picks, up to a full copy",
        "Without an explicit ALGORITHM the server silently falls back to a blocking table copy "
        "when the online path is not available.",
        "State ALGORITHM=INSTANT (or INPLACE) and LOCK=NONE: the server then refuses instead of "
        "copying.",
        True,
    ),
    _r(
        "mysql-algorithm-copy",
        "mysql",
        "ALGORITHM=COPY or LOCK=SHARED/EXCLUSIVE",
        "error",
        "locking",
        "SHARED / EXCLUSIVE metadata lock for the copy",
        "Asks for the blocking path explicitly: writes (or reads) stop for the whole copy.",
        "ALGORITHM=INPLACE, LOCK=NONE, or gh-ost / pt-online-schema-change.",
        True,
    ),
    _r(
        "mysql-missing-lock-wait-timeout",
        "mysql",
        "DDL without lock_wait_timeout",
        "warning",
        "context",
        "-",
        "The default lock_wait_timeout is one year: an ALTER waiting for its metadata lock blocks "
        "every later query on the table.",
        "SET SESSION lock_wait_timeout = 5 before the DDL and retry with backoff.",
    ),
    _r(
        "mysql-rename-column",
        "mysql",
        "RENAME COLUMN / CHANGE with a new name",
        "warning",
        "breaking",
        "metadata lock",
        "Running application versions still use the old name and fail at once.",
        "Expand-contract: add the new column, dual-write, backfill, switch reads, drop the old.",
        strong_migrations="rename_column",
    ),
    _r(
        "mysql-rename-table",
        "mysql",
        "RENAME TABLE",
        "warning",
        "breaking",
        "metadata lock",
        "Running application versions still use the old name and fail at once.",
        "Expand-contract with a view under the old name, or move clients first.",
        strong_migrations="rename_table",
    ),
    _r(
        "mysql-drop-column",
        "mysql",
        "DROP COLUMN",
        "warning",
        "breaking",
        "metadata lock + table rebuild (INPLACE)",
        "Clients that still use the column fail; the data is gone; the table is rebuilt.",
        "Stop using the column, deploy, back up, drop later with ALGORITHM=INSTANT (8.0.29+).",
        strong_migrations="remove_column",
    ),
    _r(
        "mysql-drop-table",
        "mysql",
        "DROP TABLE",
        "warning",
        "breaking",
        "metadata lock",
        "Clients that still use the table fail; the data is gone.",
        "Stop using the table, deploy, back it up, drop it later.",
    ),
]

_SQLITE = [
    _r(
        "sqlite-alter-needs-rebuild",
        "sqlite",
        "ALTER that SQLite cannot do in place",
        "error",
        "locking",
        "database write lock for the rebuild",
        "SQLite's ALTER TABLE only renames, adds simple columns and drops unreferenced ones; "
        "changing a type, a constraint or nullability fails and needs a table rebuild.",
        "The 12-step rebuild: PRAGMA foreign_keys=OFF; BEGIN; CREATE TABLE new_t (...); INSERT "
        "INTO new_t SELECT ...; DROP TABLE t; ALTER TABLE new_t RENAME TO t; recreate indexes, "
        "triggers and views; PRAGMA foreign_key_check; COMMIT; PRAGMA foreign_keys=ON.",
        True,
    ),
    _r(
        "sqlite-rename-column",
        "sqlite",
        "RENAME COLUMN",
        "warning",
        "breaking",
        "database write lock",
        "Running application versions still use the old name and fail at once.",
        "Expand-contract: add the new column, dual-write, backfill, switch reads, drop the old.",
    ),
    _r(
        "sqlite-rename-table",
        "sqlite",
        "RENAME TABLE",
        "warning",
        "breaking",
        "database write lock",
        "Running application versions still use the old name and fail at once.",
        "Create a view under the old name until every client moved.",
    ),
    _r(
        "sqlite-drop-column",
        "sqlite",
        "DROP COLUMN",
        "warning",
        "breaking",
        "database write lock + rewrite",
        "Clients that still use the column fail; SQLite rewrites the table; before 3.35 it fails.",
        "Stop using the column, deploy, back up, drop later (or rebuild the table).",
    ),
    _r(
        "sqlite-drop-table",
        "sqlite",
        "DROP TABLE",
        "warning",
        "breaking",
        "database write lock",
        "Clients that still use the table fail; the data is gone.",
        "Stop using the table, deploy, back it up, drop it later.",
    ),
]

_ANY = [
    _r(
        "parse-error",
        "any",
        "statement that cannot be parsed",
        "error",
        "meta",
        "-",
        "A statement the linter cannot read is a statement nobody checked.",
        "Fix the syntax, or pick the right --dialect; an ignore with a reason accepts it.",
    ),
    _r(
        "invalid-ignore",
        "any",
        "ignore comment without a reason or with an unknown rule",
        "error",
        "meta",
        "-",
        "An ignore must say why the risk is accepted, for the reviewer and for later readers.",
        "-- datamigration:ignore <rule-id> <reason>",
    ),
    _r(
        "unused-ignore",
        "any",
        "ignore comment that matches no finding",
        "warning",
        "meta",
        "-",
        "A stale ignore hides the next real problem on that statement.",
        "Delete the comment.",
        squawk="unused-ignore",
    ),
]

RULES: dict[str, Rule] = {r.id: r for r in (*_PG, *_MYSQL, *_SQLITE, *_ANY)}


def rule(rule_id: str) -> Rule:
    try:
        return RULES[rule_id]
    except KeyError:
        raise NotFoundError(
            f"unknown lint rule {rule_id!r}",
            hint="See docs/lint-rules.md or `datamigration lint --list-rules` for the ids.",
        ) from None
