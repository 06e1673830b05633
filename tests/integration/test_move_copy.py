"""The copy engine on real databases: each direction keeps types, NOT NULL, defaults, keys and
names (read back by introspection) and ends with an empty diff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datamigration.cli import main
from datamigration.move import CopyRequest, run_copy
from support import movedata

pytestmark = pytest.mark.integration

TABLES = ("users", "orders")


def _copy(src: str, dst: str, ws: Path, **kw) -> dict:
    kw.setdefault("partition_rows", 150)
    kw.setdefault("batch_size", 70)
    return run_copy(CopyRequest(src, dst, TABLES, workspace=str(ws), **kw))


def _assert_clean(report: dict, users: int = 500, orders: int = 1200) -> None:
    counts = {v["table"]: (v["source_rows"], v["target_rows"]) for v in report["validation"]}
    assert counts == {"users": (users, users), "orders": (orders, orders)}
    assert all(v["identical"] for v in report["validation"]), report["validation"]
    assert report["passed"] and report["rejected"] == 0


def _no_state(url: str) -> bool:
    from datamigration.db.base import connect

    with connect(url) as b:
        return b.inspect(tables=["_datamigration_copy"]).table("_datamigration_copy") is None


def test_a_postgres_to_postgres_copy_keeps_every_column_constraint_and_name(
    make_pg_url, workspace_dir: Path
) -> None:
    src, dst = make_pg_url(), make_pg_url()
    movedata.seed_postgres(src)
    report = _copy(src, dst, workspace_dir, workers=3)
    _assert_clean(report)
    for table in TABLES:
        assert movedata.pg_columns(dst, table) == movedata.pg_columns(src, table)
        assert movedata.pg_constraints(dst, table) == movedata.pg_constraints(src, table)
    next_id = movedata.pg_scalar(dst, "SELECT nextval(pg_get_serial_sequence('users', 'id'))")
    assert next_id == 501
    assert report["partitions_run"] > 2
    assert report["partitions_streamed_raw"] == report["partitions_run"]  # binary COPY
    assert _no_state(dst)
    assert (workspace_dir / report["report_json"]).is_file()
    assert "Validation: **PASSED**" in (workspace_dir / report["report_markdown"]).read_text()


def test_a_sqlite_to_postgres_copy_keeps_not_null_float_width_and_defaults(
    pg_url: str, workspace_dir: Path
) -> None:
    path = workspace_dir / "app.db"
    movedata.seed_sqlite(path)
    report = _copy(f"sqlite:///{path}", pg_url, workspace_dir)
    _assert_clean(report)
    assert report["partitions_streamed_rows"] == report["partitions_run"]  # one COPY each
    cols = movedata.pg_columns(pg_url, "users")
    assert cols["score"]["type"] == "double precision" and cols["score"]["not_null"]
    assert cols["balance"]["type"] == "numeric(12,2)" and cols["balance"]["default"] == "0"
    assert cols["email"]["type"] == "character varying(200)" and cols["email"]["not_null"]
    assert cols["status"]["default"] == "'active'::character varying"
    assert cols["created_at"]["default"] == "now()"
    assert cols["id"]["identity"] == "d"
    cons = movedata.pg_constraints(pg_url, "users")
    assert cons.get("users_name_idx") == "i" and "u" in cons.values()
    assert movedata.pg_constraints(pg_url, "orders")["orders_pkey"] == "p"
    assert "f" in movedata.pg_constraints(pg_url, "orders").values()


def test_a_mariadb_to_postgres_copy_keeps_widths_precision_and_names(
    mysql_url: str, pg_url: str, workspace_dir: Path
) -> None:
    movedata.seed_mysql(mysql_url)
    report = _copy(mysql_url, pg_url, workspace_dir, workers=2)
    _assert_clean(report)
    cols = movedata.pg_columns(pg_url, "users")
    assert cols["ratio"]["type"] == "real"
    assert cols["score"]["type"] == "double precision"
    assert cols["balance"]["type"] == "numeric(12,2)" and cols["balance"]["not_null"]
    assert cols["created_at"]["type"] == "timestamp(6) without time zone"
    assert not cols["name"]["not_null"] and cols["email"]["not_null"]
    cons = movedata.pg_constraints(pg_url, "orders")
    assert cons["orders_user_fk"] == "f"
    assert movedata.pg_constraints(pg_url, "users")["users_email_key"] == "u"


def test_a_postgres_to_mariadb_copy_stops_on_time_zones_then_keeps_the_rest_when_accepted(
    pg_url: str, mysql_url: str, workspace_dir: Path
) -> None:
    from datamigration.move.request import ConversionsRefusedError

    movedata.seed_postgres(pg_url)
    with pytest.raises(ConversionsRefusedError) as info:
        _copy(pg_url, mysql_url, workspace_dir)
    assert [c["column"] for c in info.value.data["conversions"]] == ["created_at"]
    assert movedata.inspected(mysql_url, "users") is None  # nothing was written
    report = _copy(pg_url, mysql_url, workspace_dir, accept_conversions=True)
    _assert_clean(report)
    users = movedata.shape(movedata.inspected(mysql_url, "users"))
    src = movedata.shape(movedata.inspected(pg_url, "users"))
    assert {k: v[1] for k, v in users.items()} == {k: v[1] for k, v in src.items()}
    assert users["ratio"][0] == "float" and users["score"][0] == "double"
    assert users["balance"][0] == "decimal(12,2)"
    orders = movedata.inspected(mysql_url, "orders")
    assert [fk.name for fk in orders.foreign_keys] == ["orders_user_fk"]
    table = movedata.inspected(mysql_url, "users")
    assert {ix.name for ix in table.indexes} >= {"users_name_idx", "users_email_key"}


def test_a_postgres_to_sqlite_copy_keeps_not_null_and_keys(
    pg_url: str, workspace_dir: Path
) -> None:
    movedata.seed_postgres(pg_url)
    dst = f"sqlite:///{workspace_dir / 'out.db'}"
    report = _copy(pg_url, dst, workspace_dir)
    _assert_clean(report)
    users = movedata.inspected(dst, "users")
    assert not users.column("email").nullable and users.column("name").nullable
    assert users.column("score").data_type.upper() == "REAL"
    assert users.primary_key.columns == ("id",)
    assert {ix.name for ix in users.indexes} >= {"users_name_idx", "users_email_key"}
    assert [fk.ref_table for fk in movedata.inspected(dst, "orders").foreign_keys] == ["users"]
    assert _no_state(dst)


def test_the_cli_copy_needs_yes_and_its_dry_run_shows_the_plan_of_work(
    pg_url: str, workspace_dir: Path, capsys
) -> None:
    path = workspace_dir / "app.db"
    movedata.seed_sqlite(path)
    base = [
        "--workspace",
        str(workspace_dir),
        "copy",
        f"sqlite:///{path}",
        pg_url,
        "--tables",
        "users,orders",
    ]
    assert main([*base, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "CREATE TABLE" in out and "users: 500 rows by id" in out
    assert movedata.inspected(pg_url, "users") is None
    assert main(base) == 3  # confirmation needed, nothing done
    assert movedata.inspected(pg_url, "users") is None
    assert main([*base, "--yes", "--quiet"]) == 0
    assert "validation passed" in capsys.readouterr().out


def test_enum_columns_keep_their_labels_as_named_postgres_types(
    make_pg_url, mysql_url: str, workspace_dir: Path
) -> None:
    import psycopg

    from support.services import _mysql_connect

    src, dst, dst2 = make_pg_url(), make_pg_url(), make_pg_url()
    with psycopg.connect(src, autocommit=True) as conn:
        conn.execute("CREATE TYPE mood AS ENUM ('happy', 'sad'); CREATE TABLE t (id int PRIMARY "
                     "KEY, m mood NOT NULL DEFAULT 'happy'); INSERT INTO t VALUES (1, 'sad')")  # fmt: skip
    assert run_copy(CopyRequest(src, dst, ("t",), workspace=str(workspace_dir)))["passed"]
    assert movedata.pg_columns(dst, "t")["m"] == movedata.pg_columns(src, "t")["m"]
    labels = "SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum"
    assert movedata.pg_scalar(dst, labels) == "happy,sad"
    with _mysql_connect(mysql_url, mysql_url.rsplit("/", 1)[1]) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id int PRIMARY KEY, m enum('a','b c') NOT NULL DEFAULT 'a')")
        cur.execute("INSERT INTO t VALUES (1, 'b c'), (2, 'a')")
    assert run_copy(CopyRequest(mysql_url, dst2, ("t",), workspace=str(workspace_dir)))["passed"]
    assert movedata.pg_columns(dst2, "t")["m"]["type"] == "t_m"
    assert movedata.pg_scalar(dst2, labels) == "a,b c"


def test_a_copy_for_a_story_records_its_verdict_on_the_story(
    pg_url: str, workspace_dir: Path, capsys
) -> None:
    path = workspace_dir / "app.db"
    movedata.seed_sqlite(path)
    ws = ["--workspace", str(workspace_dir)]
    assert main([*ws, "status", "new", "US-0007", "--title", "Move users to PostgreSQL",
                 "--status", "in-progress"]) == 0  # fmt: skip
    capsys.readouterr()
    argv = [*ws, "copy", "sqlite:///app.db", pg_url, "--tables", "users,orders", "--yes",
            "--story", "US-0007", "--json"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["test_status"] == "passing"
    story = json.loads((workspace_dir / "status.json").read_text())["stories"]["US-0007"]
    assert story["test_status"] == "passing"
    assert story["test_results"]["report"] == out["report_json"]
    assert out["run_id"] in story["test_results"]["output_summary"]


def test_a_password_in_the_urls_is_never_written_to_reports_bus_or_state(
    make_pg_url, workspace_dir: Path
) -> None:
    src, dst = make_pg_url(), make_pg_url()
    movedata.seed_postgres(src, users=50, orders=60)
    secret = "s3cret-Never-Written"
    with_pw = [u.replace("postgres@", f"postgres:{secret}@") for u in (src, dst)]
    report = run_copy(CopyRequest(*with_pw, TABLES, workspace=str(workspace_dir)))
    assert report["passed"] and secret not in json.dumps(report)
    assert "***" in report["source"]
    written = [p.read_text() for p in workspace_dir.rglob("*") if p.is_file()]
    assert written and not any(secret in text for text in written)


def test_sqlite_values_binary_copy_cannot_take_reach_postgres_as_text_copy_would_load_them(
    pg_url: str, workspace_dir: Path
) -> None:
    import sqlite3

    path = workspace_dir / "odd.db"
    odd = ["2024-01-02 01:01:01.1234567", "2024-01-02T01:01:01+02:00", "Jan 5 2024 10:00"]
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, at DATETIME NOT NULL)")
        rows = [(i, i * 10, f"2024-03-{1 + i % 28:02d} 0{i % 10}:00:00.5") for i in range(1, 9)]
        rows += [(9, "12", odd[0]), (10, 7, odd[1]), (11, 8, odd[2])]
        conn.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    req = CopyRequest(f"sqlite:///{path}", pg_url, ("t",), workspace=str(workspace_dir),
                      batch_size=4)  # fmt: skip
    report = run_copy(req)
    assert report["rows_copied"] == 11 and report["rejected"] == 0
    assert report["partitions_streamed_rows"] == 0  # the binary stream failed: batch by batch
    import psycopg

    with psycopg.connect(pg_url) as conn:
        got = dict(conn.execute("SELECT id, at::text FROM t").fetchall())
        n = dict(conn.execute("SELECT id, n FROM t").fetchall())
        want = [conn.execute("SELECT %s::timestamp(6)::text", (v,)).fetchone()[0] for v in odd]
    assert [got[9], got[10], got[11]] == want
    assert got[1] == "2024-03-02 01:00:00.5" and n[9] == 12 and n[3] == 30


def test_a_sync_snapshot_copy_leaves_its_comparison_to_the_cutover_and_says_so(
    pg_url: str, workspace_dir: Path
) -> None:
    """A sync copies a source the application keeps writing: comparing it at the end of the
    copy would find the writes the capture is about to carry over (and, on a large table
    under steady writes, bisect for minutes). The copy skips it, says so, and records no
    verdict on the story."""
    path = workspace_dir / "app.db"
    movedata.seed_sqlite(path)
    report = _copy(f"sqlite:///{path}", pg_url, workspace_dir, validate=False, story="US-0009")
    assert report["validation"] == [] and report["passed"] is None
    assert report["rows_copied"] == 1700 and report["rejected"] == 0
    assert "test_status" not in report
    markdown = (workspace_dir / report["report_markdown"]).read_text()
    assert "the cutover's final diff validates" in markdown
    assert _no_state(pg_url)
