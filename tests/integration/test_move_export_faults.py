"""Bad input for export/import, each a clear error with nothing half-done: a damaged export
file is refused by name before the target is touched, and a disk that fills up mid-export
leaves no file and no manifest behind."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from datamigration.cli import main
from support import movedata

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RUN_CLI = "import sys; from datamigration.cli import main; sys.exit(main(sys.argv[1:]))"


def cli(ws: Path, *argv: str) -> int:
    """The CLI in this test's workspace (its bus, its rejects), never the repository's."""
    return main(["--workspace", str(ws), *argv])


def _export(src: str, out: Path, fmt: str = "parquet", *flags: str) -> None:
    argv = ["export", src, "--tables", "users,orders", "--to", str(out), "--format", fmt]
    code = cli(out.parent, *argv, *flags, "--quiet")
    assert code == 0


def _exported(make_pg_url, ws: Path, fmt: str, *flags: str, **rows: int) -> tuple[str, Path]:
    """A seeded PostgreSQL exported to `ws`/export: (an empty target URL, the export)."""
    src, dst = make_pg_url(), make_pg_url()
    movedata.seed_postgres(src, **rows)
    out = ws / "export"
    _export(src, out, fmt, *flags)
    return dst, out


def _target_tables(url: str) -> list[str]:
    from datamigration.db.base import connect

    with connect(url) as b:
        return [t.name for t in b.inspect().tables]


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        ("flip", "was altered"),
        ("truncate", "is truncated"),
        ("remove", "is missing"),
    ],
)
def test_an_import_refuses_a_damaged_file_by_name_and_leaves_the_target_untouched(
    damage: str, words: str, make_pg_url, workspace_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    dst, out = _exported(make_pg_url, workspace_dir, "parquet")
    victim = out / "orders.parquet"
    data = victim.read_bytes()
    if damage == "flip":
        middle = len(data) // 2
        victim.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :])
    elif damage == "truncate":
        victim.write_bytes(data[: len(data) - 100])
    else:
        victim.unlink()
    capsys.readouterr()
    code = cli(workspace_dir, "import", str(out), dst, "--yes", "--quiet")
    err = capsys.readouterr().err
    assert code == 4
    assert "orders.parquet" in err and words in err and "refusing to import" in err
    assert "hint:" in err
    assert _target_tables(dst) == []


def test_a_table_split_over_several_files_imports_and_a_damaged_part_is_named(
    make_pg_url, workspace_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    split = ("--rows-per-file", "200", "--batch-size", "100")
    dst, out = _exported(make_pg_url, workspace_dir, "csv", *split, users=100, orders=450)
    manifest = json.loads((out / "manifest.json").read_text())
    orders = next(t for t in manifest["tables"] if t["name"] == "orders")
    assert [f["path"] for f in orders["files"]] == [
        "orders.00000.csv.gz", "orders.00001.csv.gz", "orders.00002.csv.gz",
    ]  # fmt: skip
    assert [f["rows"] for f in orders["files"]] == [200, 200, 50]
    victim = out / "orders.00001.csv.gz"
    good = victim.read_bytes()
    victim.write_bytes(good[:-10])
    capsys.readouterr()
    assert cli(workspace_dir, "import", str(out), dst, "--yes", "--quiet") == 4
    assert "orders.00001.csv.gz (table orders) is truncated" in capsys.readouterr().err
    victim.write_bytes(good)
    assert cli(workspace_dir, "import", str(out), dst, "--yes", "--quiet") == 0
    assert movedata.pg_scalar(dst, "SELECT count(*) FROM orders") == 450


def test_an_import_of_a_directory_without_a_manifest_is_refused(
    pg_url: str, workspace_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    (workspace_dir / "half").mkdir()
    (workspace_dir / "half" / "users.parquet").write_bytes(b"PAR1")
    code = cli(workspace_dir, "import", str(workspace_dir / "half"), pg_url, "--yes")
    assert code == 2
    assert "no manifest.json" in capsys.readouterr().err
    assert _target_tables(pg_url) == []


def test_an_import_needs_yes_and_its_dry_run_shows_the_target_tables(
    make_pg_url, workspace_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    dst, out = _exported(make_pg_url, workspace_dir, "csv", users=50, orders=80)
    capsys.readouterr()
    assert cli(workspace_dir, "import", str(out), dst) == 3
    assert "confirmation needed" in capsys.readouterr().err
    assert cli(workspace_dir, "import", str(out), dst, "--dry-run") == 0
    text = capsys.readouterr().out
    assert "verified 2 file(s)" in text and 'CREATE TABLE "users"' in text
    assert _target_tables(dst) == []
    assert cli(workspace_dir, "import", str(out), dst, "--yes", "--quiet") == 0
    assert "0 rejected, check passed" in capsys.readouterr().out
    assert (
        cli(workspace_dir, "import", str(out), dst, "--yes", "--quiet") == 4
    )  # never appends silently
    assert "--truncate" in capsys.readouterr().err
    assert movedata.pg_scalar(dst, "SELECT count(*) FROM orders") == 80
    assert cli(workspace_dir, "import", str(out), dst, "--truncate", "--yes", "--quiet") == 0
    assert movedata.pg_scalar(dst, "SELECT count(*) FROM orders") == 80


def test_an_export_of_a_table_without_a_key_is_refused_and_leaves_nothing(
    pg_url: str, workspace_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    movedata.seed_postgres(pg_url, users=10, orders=10)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE events AS SELECT g AS n FROM generate_series(1, 5) g")
    out = workspace_dir / "export"
    code = cli(
        workspace_dir, "export", pg_url, "--tables", "users,events", "--to", str(out), "--quiet"
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "table events has no primary key" in err and "hint: Add a primary key" in err
    assert not out.exists()


def test_a_row_the_target_refuses_is_set_aside_and_the_import_says_it_failed(
    pg_url: str, workspace_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    import sqlite3

    path = workspace_dir / "app.db"
    movedata.seed_sqlite(path, users=20, orders=30)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE orders SET amount = 'lots' WHERE id = 17")
    out = workspace_dir / "export"
    _export(f"sqlite:///{path}", out, "jsonl")
    capsys.readouterr()
    assert cli(workspace_dir, "import", str(out), pg_url, "--yes", "--json", "--quiet") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["rejected"] == 1 and not report["passed"]
    assert report["rejects"][0]["key"] == [17] and report["rejects"][0]["table"] == "orders"
    assert "lots" in json.dumps(report["rejects"][0]["row"])
    assert movedata.pg_scalar(pg_url, "SELECT count(*) FROM orders") == 29
    orders = next(v for v in report["validation"] if v["table"] == "orders")
    assert (orders["source_rows"], orders["target_rows"], orders["identical"]) == (30, 29, False)
    assert (
        cli(workspace_dir, "import", str(out), pg_url, "--yes", "--truncate", "--strict", "--quiet")
        == 4
    )
    assert "strict import stopped at the first refused row" in capsys.readouterr().err


@contextlib.contextmanager
def small_disk(path: Path, size_kb: int, way: str) -> Iterator[dict]:
    """A directory on a file system of `size_kb` (a tmpfs: writes fail with ENOSPC) where this
    user may mount one; otherwise, and for way="rlimit", a file size limit on the exporting
    process (RLIMIT_FSIZE with SIGXFSZ ignored: writes past it fail with EFBIG). Either way the
    export's own write calls fail, on the real path."""
    path.mkdir()
    mounted = (
        way == "tmpfs"
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)],
            check=False,
            capture_output=True,
        ).returncode
        == 0
    )
    try:
        yield {
            "limit": None if mounted else size_kb * 1024,
            "kind": "tmpfs" if mounted else "rlimit",
        }
    finally:
        if mounted:
            subprocess.run(["umount", str(path)], check=True)


def _limited(limit: int | None):
    def apply() -> None:
        if limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.parametrize("way", ["tmpfs", "rlimit"])
def test_a_full_disk_mid_export_says_so_and_leaves_no_file_and_no_manifest(
    way: str, pg_url: str, tmp_path: Path
) -> None:
    movedata.seed_postgres(pg_url, users=20_000, orders=60_000)
    disk = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    out = disk / "export"
    with small_disk(disk, 512, way) as how:
        env = dict(os.environ, PYTHONPATH=str(REPO / "server"))
        proc = subprocess.run(
            [sys.executable, "-c", RUN_CLI, "export", pg_url, "--tables",
             "users,orders", "--to", str(out), "--format", "jsonl", "--quiet"],
            check=False, capture_output=True, text=True, env=env, cwd=tmp_path,
            preexec_fn=_limited(how["limit"]), timeout=240,
        )  # fmt: skip
        left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert proc.returncode == 5, (how, proc.stderr)
    assert "is full (or a size limit was reached)" in proc.stderr
    assert "no manifest was written" in proc.stderr and "hint:" in proc.stderr
    assert "Traceback" not in proc.stderr and "users.jsonl.gz" in proc.stderr
    assert left == [] and not out.exists(), left
