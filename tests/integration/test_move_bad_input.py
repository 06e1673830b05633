"""Bad input for the copy: each is a clear error before anything is written, or a refused row
set aside, or a failure the run resumes from; never partial silent data."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import psycopg
import pytest

from datamigration.errors import ConflictError, NotFoundError
from datamigration.move import CopyRequest, run_copy
from datamigration.move.request import (
    ConversionsRefusedError,
    CopyFailedError,
    KeylessTableError,
    ResumeRefusedError,
    TargetNotEmptyError,
)
from support import movedata

pytestmark = pytest.mark.integration


def _req(src: str, dst: str, ws: Path, tables=("users", "orders"), **kw) -> CopyRequest:
    kw.setdefault("partition_rows", 300)
    kw.setdefault("batch_size", 50)
    return CopyRequest(src, dst, tuple(tables), workspace=str(ws), **kw)


def _sqlite(ws: Path) -> str:
    path = ws / "app.db"
    movedata.seed_sqlite(path)
    return f"sqlite:///{path}"


def test_a_missing_table_is_named_with_the_nearest_one_and_nothing_is_written(
    pg_url: str, workspace_dir: Path
) -> None:
    with pytest.raises(NotFoundError) as info:
        run_copy(_req(_sqlite(workspace_dir), pg_url, workspace_dir, tables=("users", "order")))
    assert "order" in info.value.message and "orders" in info.value.hint
    assert movedata.inspected(pg_url, "users") is None


def test_a_table_without_a_key_is_refused_with_the_choices(
    pg_url: str, workspace_dir: Path
) -> None:
    path = workspace_dir / "log.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE events (at TEXT, what TEXT)")
        conn.execute("INSERT INTO events VALUES ('2024-01-01', 'x')")
    with pytest.raises(KeylessTableError) as info:
        run_copy(_req(f"sqlite:///{path}", pg_url, workspace_dir, tables=("events",)))
    assert "events" in info.value.message
    assert "primary key" in info.value.hint and "UNIQUE" in info.value.hint
    assert movedata.inspected(pg_url, "events") is None


def test_a_lossy_type_stops_the_run_listing_each_column_until_accepted(
    pg_url: str, workspace_dir: Path
) -> None:
    dst = f"sqlite:///{workspace_dir / 'out.db'}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE t (id int PRIMARY KEY, n numeric(50,20), x interval, r int4range)"
        )
        conn.execute("INSERT INTO t VALUES (1, 1.5, '1 day', '[1,5)')")
    with pytest.raises(ConversionsRefusedError) as info:
        run_copy(_req(pg_url, dst, workspace_dir, tables=("t",)))
    listed = {c["column"]: c["reason"] for c in info.value.data["conversions"]}
    assert set(listed) == {"x", "r"} and "interval" in listed["x"] and "int4range" in listed["r"]
    assert not (workspace_dir / "out.db").exists() or movedata.inspected(dst, "t") is None


def test_a_target_holding_rows_is_refused_and_truncate_replaces_them(
    pg_url: str, workspace_dir: Path
) -> None:
    src = _sqlite(workspace_dir)
    run_copy(_req(src, pg_url, workspace_dir))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE orders SET note = 'changed on the target' WHERE id = 7")
    with pytest.raises(TargetNotEmptyError) as info:
        run_copy(_req(src, pg_url, workspace_dir))
    assert "holds 1200 row(s)" in info.value.message or "hold" in info.value.message
    assert "truncate" in info.value.hint
    assert movedata.pg_scalar(pg_url, "SELECT note FROM orders WHERE id = 7") == (
        "changed on the target"
    )
    report = run_copy(_req(src, pg_url, workspace_dir, truncate=True))
    assert report["passed"]
    assert movedata.pg_scalar(pg_url, "SELECT note FROM orders WHERE id = 7") == "order 7"


def test_an_incompatible_target_table_is_refused_with_the_column_and_why(
    pg_url: str, workspace_dir: Path
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id bigint PRIMARY KEY, email varchar(20))")
    with pytest.raises(ConflictError) as info:
        run_copy(_req(_sqlite(workspace_dir), pg_url, workspace_dir, tables=("users",)))
    assert "column email (character varying(20)): NOT NULL dropped" in info.value.message
    assert "column score is missing" in info.value.message
    assert movedata.pg_scalar(pg_url, "SELECT count(*) FROM users") == 0


def test_rows_the_target_refuses_go_to_the_rejects_file_and_strict_stops_at_the_first(
    pg_url: str, workspace_dir: Path
) -> None:
    src = movedata.seed_sqlite_tags(workspace_dir / "app.db", too_long=(13, 77))
    with pytest.raises(CopyFailedError) as info:
        run_copy(_req(src, pg_url, workspace_dir, tables=("tags",), strict=True))
    assert "refused" in info.value.message and "13" in info.value.message
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP TABLE tags; DROP TABLE _datamigration_copy")
    report = run_copy(_req(src, pg_url, workspace_dir, tables=("tags",)))
    assert report["rejected"] == 2 and not report["passed"]
    assert report["partitions_streamed_rows"] == 0  # the refused rows sent it batch by batch
    assert sorted(r["key"] for r in report["rejects"]) == [[13], [77]]
    assert report["validation"][0]["missing"] == [13, 77]
    files = list((workspace_dir / report["rejects_dir"]).glob("*.jsonl"))
    lines = [json.loads(x) for f in files for x in f.read_text().splitlines()]
    assert {line["row"]["label"] for line in lines} == {"x" * 9}
    assert all("value too long" in line["error"] for line in lines)
    assert movedata.pg_scalar(pg_url, "SELECT count(*) FROM tags") == 198


def test_a_target_disconnecting_mid_run_fails_clearly_and_the_run_resumes(
    pg_url: str, workspace_dir: Path
) -> None:
    src = _sqlite(workspace_dir)
    # the writer of the first partition waits on a lock held here, and is terminated
    with movedata.orders_writer_killed(pg_url) as killed, pytest.raises(CopyFailedError) as info:
        run_copy(_req(src, pg_url, workspace_dir, tables=("orders",)))
    assert killed and "orders" in info.value.message
    assert "resume" in info.value.hint
    assert movedata.pg_scalar(pg_url, "SELECT count(*) FROM _datamigration_copy") > 0
    report = run_copy(_req(src, pg_url, workspace_dir, tables=("orders",), resume=True))
    assert report["passed"] and report["validation"][0]["target_rows"] == 1200
    assert movedata.inspected(pg_url, "_datamigration_copy") is None


def test_a_resume_with_other_settings_is_refused(pg_url: str, workspace_dir: Path) -> None:
    from datamigration.db.base import connect
    from datamigration.move import state

    src = _sqlite(workspace_dir)
    request = _req(src, pg_url, workspace_dir)
    with connect(pg_url) as dst:
        store = dst.copy_state_table(request.state_table)
        store.ensure()
        info = {"source": "x", "target": "y", "tables": ["users", "orders"]}
        store.put([state.header("copy-old", "not-this-fingerprint", info)])
    with pytest.raises(ResumeRefusedError) as err:
        run_copy(request.with_(resume=True, run_id="copy-old"))
    assert "fingerprint" in err.value.message
    assert movedata.inspected(pg_url, "users") is None


def test_a_row_refused_inside_a_binary_stream_is_found_row_by_row(
    make_pg_url, workspace_dir: Path
) -> None:
    src, dst = make_pg_url(), make_pg_url()
    ddl = "CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL"
    with psycopg.connect(src, autocommit=True) as conn:
        conn.execute(ddl + ")")
        conn.execute("INSERT INTO t SELECT g, g FROM generate_series(1, 300) g")
    with psycopg.connect(dst, autocommit=True) as conn:
        conn.execute(ddl + ", CONSTRAINT v_not_42 CHECK (v <> 42))")
    report = run_copy(_req(src, dst, workspace_dir, tables=("t",), partition_rows=100))
    assert report["rejected"] == 1 and report["rejects"][0]["key"] == [42]
    assert "v_not_42" in report["rejects"][0]["error"]
    assert report["partitions_streamed_raw"] == report["partitions_run"] - 1
    assert report["validation"][0]["missing"] == [42]
    assert movedata.pg_scalar(dst, "SELECT count(*) FROM t") == 299
