"""Live context on real PostgreSQL: measured locks and rewrites, and size-driven severity."""

from __future__ import annotations

import psycopg
import pytest

from datamigration.db import connect
from datamigration.lint.live import lint_live
from datamigration.lint.model import LintOptions
from datamigration.lint.trace import trace_statements
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration


@pytest.fixture
def pg(pg_url):
    with connect(pg_url) as backend:
        backend.execute(
            [
                "CREATE TABLE t (id int PRIMARY KEY, a int)",
                "INSERT INTO t SELECT g, g FROM generate_series(1, 20000) g",
                "CREATE TABLE empty_t (id int, a int)",
                "ANALYZE t",
                "ANALYZE empty_t",
            ]
        )
        yield backend


def test_trace_measures_share_for_create_index_and_a_rewrite_only_for_a_type_change(pg):
    traces = trace_statements(
        pg,
        [
            "CREATE INDEX t_a_idx ON t (a)",
            "ALTER TABLE t ADD COLUMN b int NOT NULL DEFAULT 1",
            "ALTER TABLE t ALTER COLUMN a TYPE bigint",
        ],
    )
    index, add_column, type_change = traces
    assert "public.t: ShareLock" in index.locks
    assert "public.t: AccessExclusiveLock" in add_column.locks and not add_column.rewritten
    assert "public.t" in type_change.rewritten
    cols = pg.query(
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_name = 't' AND column_name = 'b'"
    )
    assert cols.rows[0][0] == 0  # rolled back


def test_live_sizes_make_an_empty_table_info_and_keep_a_populated_one(pg_url, workspace_dir):
    sql = "CREATE INDEX i1 ON empty_t (a);\nCREATE INDEX i2 ON t (a);\n"
    with connect(pg_url) as backend:
        backend.execute(
            [
                "CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY, a int)",
                "INSERT INTO t SELECT g, g FROM generate_series(1, 20000) g ON CONFLICT DO NOTHING",
                "CREATE TABLE IF NOT EXISTS empty_t (id int, a int)",
                "ANALYZE t",
                "ANALYZE empty_t",
            ]
        )
    report = lint_live(
        Workspace.open(workspace_dir), [], LintOptions(), pg_url, trace=True, stdin_text=sql
    )
    sev = {f.line: f.severity for f in report.findings if f.rule == "pg-create-index-nonconcurrent"}
    assert sev == {1: "info", 2: "error"}
    assert any("ShareLock" in lock for t in report.traces for lock in t["locks"])


@pytest.fixture
def shop(pg_url):
    """Orders reference customers; a serial key, a custom index name, a view, 5000 rows."""
    with connect(pg_url) as backend:
        backend.execute(
            [
                "CREATE TYPE status AS ENUM ('new', 'paid')",
                "CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL)",
                "INSERT INTO customers (name) SELECT 'c' || g FROM generate_series(1, 5000) g",
                (
                    "CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                    "customer_id int NOT NULL REFERENCES customers (id), state status NOT NULL, "
                    "total numeric CHECK (total >= 0))"
                ),
                (
                    "INSERT INTO orders (customer_id, state, total) "
                    "SELECT 1 + g % 5000, 'new', g FROM generate_series(1, 5000) g"
                ),
                "CREATE INDEX orders_by_customer_custom ON orders (customer_id)",
                "CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100",
            ]
        )
        yield backend


def _real(backend, table: str) -> tuple[int, int]:
    row = backend.query(
        f"SELECT '{table}'::regclass::oid::int, pg_relation_filenode('{table}')::int"
    ).rows[0]
    return row[0], row[1]


def _scratch_schemas(backend) -> int:
    return backend.query(
        "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'dm\\_trace\\_%'"
    ).rows[0][0]


def test_trace_takes_only_access_share_on_the_real_table_and_never_rewrites_it(pg, pg_url):
    oid, filenode = _real(pg, "public.t")
    seen: dict[int, list[str]] = {}
    with psycopg.connect(pg_url, autocommit=True) as watcher:

        def observe(index: int, pid: int) -> None:
            seen[index] = [
                r[0]
                for r in watcher.execute(
                    "SELECT mode FROM pg_locks WHERE pid = %s AND relation = %s", (pid, oid)
                )
            ]

        traces = trace_statements(
            pg,
            [
                "ALTER TABLE public.t ADD COLUMN c text DEFAULT 'x' NOT NULL",
                "ALTER TABLE t ALTER COLUMN a TYPE bigint",
                "LOCK TABLE t IN ACCESS EXCLUSIVE MODE",
            ],
            observe=observe,
        )
    assert [t.error for t in traces] == ["", "", ""]
    assert "public.t: AccessExclusiveLock" in traces[0].locks and not traces[0].rewritten
    assert "public.t" in traces[1].rewritten
    assert "public.t: AccessExclusiveLock" in traces[2].held
    assert set(seen) == {-1, 0, 1, 2}
    assert set(seen[-1]) == {"AccessShareLock"}  # the copy: LIKE and the sampling SELECT
    assert all(modes == [] for i, modes in seen.items() if i >= 0)  # the statements: nothing
    assert all(t.original_locks == () for t in traces)
    assert _real(pg, "public.t") == (oid, filenode)
    assert _scratch_schemas(pg) == 0


def test_trace_follows_qualified_names_original_index_names_and_foreign_keys(shop):
    customers_seq = shop.query("SELECT last_value FROM customers_id_seq").rows[0][0]
    traces = trace_statements(
        shop,
        [
            "ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_id_fkey",
            "INSERT INTO customers (name) VALUES ('new one')",
            "DROP INDEX public.orders_by_customer_custom",
            "ALTER TABLE public.customers ALTER COLUMN id TYPE bigint",
            "INSERT INTO orders (customer_id, state, total) VALUES (1, 'paid', 5)",
        ],
    )
    validate, insert, drop, widen, _identity = traces
    # the copies keep the original names, and keys continue after the sampled rows
    assert [t.error for t in traces] == [""] * 5, traces
    assert "public.orders: ShareUpdateExclusiveLock" in validate.locks
    assert "public.customers: RowExclusiveLock" in insert.locks
    assert "public.orders: AccessExclusiveLock" in drop.locks
    assert "public.customers" in widen.rewritten
    assert "public.customers: AccessExclusiveLock" in widen.locks
    assert shop.query("SELECT last_value FROM customers_id_seq").rows[0][0] == customers_seq
    assert shop.query("SELECT count(*) FROM customers").rows[0][0] == 5000
    assert _scratch_schemas(shop) == 0


def test_trace_does_not_run_a_statement_that_changes_a_view_it_cannot_copy(shop):
    (drop_view, read_view) = trace_statements(
        shop, ["DROP VIEW big_orders", "SELECT count(*) FROM big_orders"]
    )
    assert "does not copy" in drop_view.skipped and not drop_view.locks
    assert read_view.error == "" and not read_view.skipped
    assert all(lock.endswith("AccessShareLock") for lock in read_view.original_locks)
    assert shop.query("SELECT count(*) FROM pg_views WHERE viewname = 'big_orders'").rows[0][0]


def test_trace_stops_when_a_function_reaches_a_real_table_and_skips_do_naming_a_schema(pg):
    pg.execute(
        [
            (
                "CREATE FUNCTION touch_t() RETURNS void LANGUAGE sql "
                "AS 'UPDATE public.t SET a = a WHERE id = 1'"
            )
        ]
    )
    oid, filenode = _real(pg, "public.t")
    named, via_function, after = trace_statements(
        pg,
        [
            "DO $$ BEGIN EXECUTE 'LOCK TABLE public.t IN SHARE MODE'; END $$",
            "SELECT touch_t()",
            "CREATE INDEX t_a_idx ON t (a)",
        ],
    )
    assert "names the schema public" in named.skipped
    assert "public.t: RowExclusiveLock" in via_function.error
    assert "stopped" in via_function.error
    assert after.skipped.startswith("not run")
    assert _real(pg, "public.t") == (oid, filenode)


def test_trace_drops_a_scratch_schema_left_by_a_session_that_is_gone(pg):
    pg.execute(
        [
            "CREATE SCHEMA dm_trace_deadbeef_0",
            (
                "COMMENT ON SCHEMA dm_trace_deadbeef_0 IS "
                "'datamigration lock trace pid=1 started=2000-01-01T00:00:00+00:00 copy of public'"
            ),
            "CREATE SCHEMA dm_trace_not_ours",
        ]
    )
    trace_statements(pg, ["SELECT 1"])
    names = {r[0] for r in pg.query("SELECT nspname FROM pg_namespace").rows}
    assert "dm_trace_deadbeef_0" not in names and "dm_trace_not_ours" in names


def test_trace_copies_a_partitioned_table_with_its_partitions(pg):
    pg.execute(
        [
            (
                "CREATE TABLE events (id bigint, at date NOT NULL, kind text, PRIMARY KEY (id, at)) "
                "PARTITION BY RANGE (at)"
            ),
            (
                "CREATE TABLE events_2024 PARTITION OF events "
                "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"
            ),
            (
                "CREATE TABLE events_2025 PARTITION OF events "
                "FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')"
            ),
            "CREATE INDEX events_kind ON events (kind)",
            (
                "INSERT INTO events SELECT g, date '2024-06-01' + g % 400, 'k' "
                "FROM generate_series(1, 3000) g"
            ),
        ]
    )
    add, retype = trace_statements(
        pg,
        [
            "ALTER TABLE events ADD COLUMN x int",
            "ALTER TABLE events_2025 ALTER COLUMN kind SET DATA TYPE varchar(10)",
        ],
    )
    assert {
        "public.events: AccessExclusiveLock",
        "public.events_2024: AccessExclusiveLock",
        "public.events_2025: AccessExclusiveLock",
    } <= set(add.locks)
    assert "cannot alter" in retype.error  # a partition's column type follows its parent's
    assert _scratch_schemas(pg) == 0
