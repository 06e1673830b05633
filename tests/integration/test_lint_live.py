"""Live context on real PostgreSQL: measured locks and rewrites, and size-driven severity."""

from __future__ import annotations

import pytest

from datamigration.db import connect
from datamigration.db.locktrace import trace_statements
from datamigration.lint.live import lint_live
from datamigration.lint.model import LintOptions
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
