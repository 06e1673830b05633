"""The planner against a real PostgreSQL database with a populated table: estimates come from
measured sizes and a measured rate, nothing in the database changes, the files are written and
the stored plan loads by id + hash."""

from __future__ import annotations

import json

import pytest

from datamigration.db import connect
from datamigration.plan import store
from datamigration.plan.planner import plan_migration
from datamigration.plan.schemas import errors
from datamigration.plan.spec import parse_spec
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration

ROWS = 50_000


@pytest.fixture
def populated(pg_url):
    with connect(pg_url) as b:
        b.execute([
            "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, n int)",
            (
                f"INSERT INTO users (email, n) SELECT 'u' || g || '@example.org', g "
                f"FROM generate_series(1, {ROWS}) g"
            ),
            "ANALYZE users",
        ])  # fmt: skip
    return pg_url


def _snapshot(url: str) -> tuple:
    with connect(url) as b:
        r = b.query("SELECT count(*), sum(hashtext(email)), max(xmin::text::bigint) FROM users")
        cols = b.query("SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute "
                       "WHERE attrelid = 'users'::regclass AND attnum > 0 AND NOT attisdropped")  # fmt: skip
    return r.rows[0], cols.rows[0]


def test_plan_on_a_populated_postgres_table_measures_and_changes_nothing(populated, workspace_dir):
    ws = Workspace.open(workspace_dir)
    before = _snapshot(populated)
    spec = parse_spec({"kind": "rename_column", "table": "users", "column": "email",
                       "new_name": "email_address", "story": "US-0042"})  # fmt: skip
    result = plan_migration(ws, spec, populated)
    p = result.plan
    assert _snapshot(populated) == before
    assert p.estimates.table_rows["users"] == ROWS
    assert p.estimates.table_bytes["users"] > 1_000_000
    assert p.estimates.rate_source.startswith("measured: 1000 rows")
    backfill = next(s for s in p.steps if s.title.startswith("Backfill"))
    expected = ROWS / p.estimates.backfill_rows_per_second
    assert backfill.estimate_seconds == pytest.approx(expected, rel=0.05, abs=0.02)
    assert (
        "postgres" not in p.database
        or "@" not in p.database
        or ":" not in p.database.split("@")[0][11:]
    )
    assert any(r["type"] == "not_null" for r in p.post_validation)
    assert all(f.startswith((".datamigration/", "docs/")) for f in result.files)
    stored = json.loads((workspace_dir / result.files[1]).read_text())
    assert errors(stored, "plan") == []
    assert store.load_plan(ws, p.id, p.hash).hash == p.hash
    md = (workspace_dir / result.files[2]).read_text()
    assert "```mermaid" in md and p.hash in md
