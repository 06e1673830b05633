"""Export and import on real databases: the round trips keep types, NOT NULL, keys and names
(read back by introspection) and end with an empty checksum diff against the source."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest

from datamigration.move.files.export import ExportRequest, export_tables
from datamigration.move.files.load import ImportRequest, import_tables
from datamigration.validate.diff import diff_tables
from support import movedata

pytestmark = pytest.mark.integration

TABLES = ("users", "orders", "kinds")

KINDS = r"""
CREATE TABLE kinds (
  id integer PRIMARY KEY,
  small smallint NOT NULL,
  big_exact numeric,
  doc jsonb,
  tag uuid,
  blob bytea,
  span interval,
  ints integer[],
  at_time time(6),
  label text
);
INSERT INTO kinds
SELECT g, g % 300, (g * 1234567.891011)::numeric * 10 ^ 20,
       jsonb_build_object('n', g, 'price', 1.25, 'tags', jsonb_build_array('a', g)),
       md5(g::text)::uuid, decode(lpad(to_hex(g), 8, '0'), 'hex'),
       make_interval(days => g % 40, secs => g * 1.25), ARRAY[g, g + 1, NULL],
       time '00:00' + g * interval '7 seconds',
       CASE WHEN g % 11 = 0 THEN NULL WHEN g % 5 = 0 THEN '\N' WHEN g % 3 = 0 THEN '' ELSE
       E'line\\one, "q" ' || g END
FROM generate_series(1, 400) g;
"""


def _export(src: str, out: Path, ws: Path, fmt: str, tables=TABLES, **kw) -> dict:
    kw.setdefault("batch_size", 170)
    return export_tables(ExportRequest(src, tables, str(out), fmt, workspace=str(ws), **kw))


def _import(out: Path, dst: str, ws: Path, **kw) -> dict:
    kw.setdefault("batch_size", 130)
    kw.setdefault("commit_rows", 300)
    return import_tables(ImportRequest(str(out), dst, workspace=str(ws), **kw))


def _diff_is_empty(src: str, dst: str, tables=TABLES) -> None:
    for table in tables:
        report = diff_tables(src, table, dst, table)
        assert report["identical"], (table, report["missing"], report["extra"], report["changed"])
        assert report["rows_compared"] > 0


def test_a_postgres_export_to_parquet_imports_into_postgres_keeping_every_type_and_name(
    make_pg_url, workspace_dir: Path
) -> None:
    src, dst = make_pg_url(), make_pg_url()
    movedata.seed_postgres(src)
    with psycopg.connect(src, autocommit=True) as conn:
        conn.execute(KINDS)
    out = workspace_dir / "export"
    manifest = _export(src, out, workspace_dir, "parquet")
    assert [t["rows"] for t in manifest["tables"]] == [500, 1200, 400]
    assert sorted(p.name for p in out.iterdir()) == [
        "checksums.sha256", "kinds.parquet", "manifest.json", "orders.parquet", "users.parquet",
    ]  # fmt: skip
    schema = pq.read_schema(out / "users.parquet")
    assert str(schema.field("score").type) == "double"
    assert str(schema.field("ratio").type) == "float"
    assert str(schema.field("balance").type) == "decimal128(12, 2)"
    assert str(schema.field("created_at").type) == "timestamp[us, tz=UTC]"
    assert not schema.field("email").nullable and schema.field("name").nullable
    assert schema.field("balance").metadata[b"datamigration.source_type"] == b"numeric(12,2)"
    assert pq.ParquetFile(out / "users.parquet").metadata.row_group(0).column(0).compression == (
        "ZSTD"
    )
    from datamigration.cli import main

    assert (
        main(["--workspace", str(workspace_dir), "verify", str(out / "checksums.sha256")]) == 0
    )  # sha256sum -c format
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk["schema"]["dialect"] == "postgresql" and on_disk["tool"]["version"]
    report = _import(out, dst, workspace_dir)
    assert report["passed"], report["validation"]
    assert report["rows_loaded"] == 2100 and report["rejected"] == 0
    bus = (workspace_dir / "bus" / "log.jsonl").read_text()
    assert "Export finished: users, orders, kinds (2100 rows)" in bus
    assert f"Import {report['run_id']} finished: 2100 rows loaded, 0 refused" in bus
    assert [v["target_checksum"] for v in report["validation"]] == [
        t["checksum"]["value"] for t in manifest["tables"]
    ]
    for table in TABLES:
        assert movedata.pg_columns(dst, table) == movedata.pg_columns(src, table)
        assert movedata.pg_constraints(dst, table) == movedata.pg_constraints(src, table)
    assert movedata.pg_scalar(dst, "SELECT nextval(pg_get_serial_sequence('users', 'id'))") == 501
    _diff_is_empty(src, dst)


def test_a_sqlite_export_to_jsonl_imports_into_postgres_with_an_empty_diff(
    pg_url: str, workspace_dir: Path
) -> None:
    path = workspace_dir / "app.db"
    movedata.seed_sqlite(path)
    src = f"sqlite:///{path}"
    out = workspace_dir / "export"
    manifest = _export(src, out, workspace_dir, "jsonl", tables=("users", "orders"))
    assert manifest["compression"] == "gzip"
    with gzip.open(out / "users.jsonl.gz", "rt") as fh:
        first = json.loads(fh.readline())
    assert first["balance"] == "0.37" and first["score"] == 0.0015
    report = _import(out, pg_url, workspace_dir)
    assert report["passed"], report["validation"]
    cols = movedata.pg_columns(pg_url, "users")
    assert cols["score"]["type"] == "double precision" and cols["score"]["not_null"]
    assert cols["balance"]["type"] == "numeric(12,2)" and cols["balance"]["not_null"]
    assert cols["email"]["type"] == "character varying(200)" and cols["email"]["not_null"]
    assert "f" in movedata.pg_constraints(pg_url, "orders").values()
    _diff_is_empty(src, pg_url, ("users", "orders"))


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_text_formats_round_trip_json_bytes_intervals_arrays_and_backslashes(
    fmt: str, make_pg_url, workspace_dir: Path
) -> None:
    src, dst = make_pg_url(), make_pg_url()
    with psycopg.connect(src, autocommit=True) as conn:
        conn.execute(KINDS)
    out = workspace_dir / "export"
    _export(src, out, workspace_dir, fmt, tables=("kinds",))
    report = _import(out, dst, workspace_dir)
    assert report["passed"], report["validation"]
    assert movedata.pg_columns(dst, "kinds") == movedata.pg_columns(src, "kinds")
    for where in ("label = '\\N'", "label = ''", "label IS NULL"):
        sql = f"SELECT count(*) FROM kinds WHERE {where}"
        assert movedata.pg_scalar(dst, sql) == movedata.pg_scalar(src, sql) > 0
    _diff_is_empty(src, dst, ("kinds",))


def test_an_export_never_writes_the_password_and_an_import_can_take_some_tables(
    make_pg_url, workspace_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    from datamigration.cli import main

    src, dst = make_pg_url(), make_pg_url()
    movedata.seed_postgres(src, users=30, orders=40)
    secret = "Pa55-export-secret"
    with_password = src.replace("postgres@", f"postgres:{secret}@", 1)
    assert with_password != src
    out = workspace_dir / "export"
    ws = ["--workspace", str(workspace_dir)]
    assert main([*ws, "export", with_password, "--tables", "users,orders", "--to", str(out)]) == 0
    assert main([*ws, "import", str(out), dst, "--tables", "users", "--yes"]) == 0
    printed = capsys.readouterr()
    assert secret not in printed.out + printed.err
    for path in out.iterdir():
        assert secret.encode() not in path.read_bytes(), path.name
    assert json.loads((out / "manifest.json").read_text())["source"]["url"].count("***") == 1
    assert movedata.pg_scalar(dst, "SELECT count(*) FROM users") == 30
    assert movedata.pg_scalar(dst, "SELECT to_regclass('orders') IS NULL") is True


def test_a_mariadb_export_to_parquet_imports_into_sqlite_with_an_empty_diff(
    mysql_url: str, workspace_dir: Path
) -> None:
    movedata.seed_mysql(mysql_url)
    out = workspace_dir / "export"
    _export(mysql_url, out, workspace_dir, "parquet", tables=("users", "orders"))
    schema = pq.read_schema(out / "users.parquet")
    assert (
        str(schema.field("ratio").type) == "float" and str(schema.field("score").type) == "double"
    )
    assert str(schema.field("created_at").type) == "timestamp[us]"
    target = f"sqlite:///{workspace_dir / 'copy.db'}"
    report = _import(out, target, workspace_dir)
    assert report["passed"], report["validation"]
    users = movedata.inspected(target, "users")
    assert not users.column("email").nullable and users.column("name").nullable
    _diff_is_empty(mysql_url, target, ("users", "orders"))
