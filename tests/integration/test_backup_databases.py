"""Backups proven restorable, on each real database: the dump is restored into a scratch
database and compared with the source (counts + checksum diff), the scratch is dropped, and a
damaged dump is caught: a flipped byte by the checksums, a truncated dump by the restore.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
from pathlib import Path

import pymongo
import pytest
from bson import Int64, ObjectId

from datamigration.db import connect
from datamigration.db.backup import DumpToolMissingError
from datamigration.safety.backup.manifest import backups_dir, list_backups, read_manifest
from datamigration.safety.backup.take import take_backup, verify_backup
from datamigration.validate.filesums import sha256_of
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration

ROWS = 400


def _users(start: int) -> str:
    rows = ", ".join(
        f"({i}, 'user {i}', {i % 7 if i % 5 else 'NULL'})" for i in range(start, start + 100)
    )
    return f"INSERT INTO users (id, name, score) VALUES {rows}"


SQL_SEED = [
    "CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL, score INTEGER)",
    "CREATE TABLE notes (body VARCHAR(40))",  # no key: counts only
    *[_users(start) for start in range(1, ROWS + 1, 100)],
    "INSERT INTO notes (body) VALUES ('a'), ('b'), ('c')",
]


@pytest.fixture
def ws(workspace_dir: Path) -> Workspace:
    return Workspace.open(workspace_dir)


def seed_sql(url: str, ws: Workspace) -> None:
    with connect(url, ws) as backend:
        backend.execute(SQL_SEED)


def scratch_databases(url: str, ws: Workspace) -> list[str]:
    """Restore-test databases left on the server (there must be none)."""
    with connect(url, ws) as backend:
        if backend.documents:
            return [n for n in backend.client.list_database_names() if n.startswith("dm_restore")]
        if backend.url.database and backend.url.database.endswith(".db"):
            folder = Path(backend.url.database).parent
            return [p.name for p in folder.glob("dm_restore_*")]
        sql = (
            "SELECT datname FROM pg_database WHERE datname LIKE 'dm_restore%'"
            if backend.dialect == "postgresql"
            else "SELECT schema_name FROM information_schema.schemata "
            "WHERE schema_name LIKE 'dm_restore%'"
        )
        return [r[0] for r in backend.fetch(sql)]


def check_verified(out: dict, tables: set[str]) -> None:
    test = out["restore_test"]
    assert out["verified"] and test["passed"], test
    assert {t["table"] for t in test["tables"]} == tables
    for t in test["tables"]:
        assert t["source_rows"] == t["restored_rows"]
        assert t["passed"]
    assert test["restore_seconds"] >= 0 and test["compare_seconds"] >= 0


@pytest.fixture(params=["pg", "mysql", "sqlite"])
def sql_url(request, ws: Workspace) -> str:
    url = request.getfixturevalue({"pg": "pg_url", "mysql": "mysql_url",
                                   "sqlite": "sqlite_url"}[request.param])  # fmt: skip
    seed_sql(url, ws)
    return url


def test_a_sql_backup_is_restored_compared_and_the_scratch_dropped(sql_url, ws):
    out = take_backup(ws, sql_url)
    check_verified(out, {"users", "notes"})
    by_table = {t["table"]: t for t in out["restore_test"]["tables"]}
    assert by_table["users"]["checksum"] == "identical"
    assert by_table["users"]["source_rows"] == ROWS
    assert "checksum" not in by_table["notes"]  # no key: compared by count
    manifest = read_manifest(backups_dir(ws) / out["id"])
    assert manifest["verified"] and manifest["whole_database"]
    for f in manifest["files"]:
        path = backups_dir(ws) / out["id"] / f["name"]
        assert sha256_of(path) == f["sha256"] and path.stat().st_size == f["bytes"] > 0
        assert (path.parent / (f["name"] + ".sha256")).is_file()
    assert manifest["tools"] and all(manifest["tools"].values())
    assert scratch_databases(sql_url, ws) == []
    assert [b["id"] for b in list_backups(ws)["backups"]] == [out["id"]]


def test_a_backup_of_chosen_tables_covers_only_them(sql_url, ws):
    out = take_backup(ws, sql_url, ["users"])
    check_verified(out, {"users"})
    assert out["tables"] == ["users"]
    assert read_manifest(backups_dir(ws) / out["id"])["whole_database"] is False


def test_a_flipped_byte_is_found_by_the_checksums_and_the_backup_is_no_longer_verified(sql_url, ws):
    out = take_backup(ws, sql_url)
    folder = backups_dir(ws) / out["id"]
    dump = folder / out["files"][0]["name"]
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    again = verify_backup(ws, out["id"], sql_url)
    assert not again["verified"]
    assert again["restore_test"]["stage"] == "checksums"
    assert "checksum mismatch" in again["restore_test"]["error"]
    assert read_manifest(folder)["verified"] is False


def truncate_and_rechecksum(folder: Path) -> None:
    """A dump cut short before it was checksummed (a killed dump tool): the checksums match
    the short file (and a compressed one is a complete gzip stream of half the content), so
    only the restore can tell."""
    manifest = read_manifest(folder)
    f = manifest["files"][-1]
    path = folder / f["name"]
    if path.suffix == ".gz":
        content = gzip.decompress(path.read_bytes())
        path.write_bytes(gzip.compress(content[: len(content) // 2]))
    else:
        path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 2)])
    f.update(bytes=path.stat().st_size, sha256=sha256_of(path))
    (folder / (f["name"] + ".sha256")).write_text(f"{f['sha256']}  {f['name']}\n")
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_a_truncated_dump_fails_its_restore_test(sql_url, ws):
    out = take_backup(ws, sql_url)
    folder = backups_dir(ws) / out["id"]
    truncate_and_rechecksum(folder)
    again = verify_backup(ws, out["id"], sql_url)
    assert not again["verified"]
    assert again["restore_test"]["stage"] in ("restore", "integrity", "compare")
    assert read_manifest(folder)["verified"] is False
    assert scratch_databases(sql_url, ws) == []


# --- MongoDB ---------------------------------------------------------------------------------


@pytest.fixture
def mongo_source(mongo_url: str):
    client = pymongo.MongoClient(mongo_url.rsplit("/", 1)[0], serverSelectionTimeoutMS=5000)
    db = client[mongo_url.rsplit("/", 1)[1]]
    db.users.insert_many(
        [{"_id": ObjectId(), "name": f"user {i}", "n": Int64(i), "small": i,
          "at": dt.datetime(2026, 1, 1 + i % 28, tzinfo=dt.UTC), "tags": ["a", i]} for i in range(ROWS)]
    )  # fmt: skip
    db.users.create_index([("name", 1)], unique=True, name="users_name")
    db.events.insert_many([{"_id": ObjectId(), "kind": "login"} for _ in range(30)])
    yield mongo_url, db
    client.drop_database(db.name)
    client.close()


def test_a_mongodb_backup_is_exported_restored_compared_and_dropped(mongo_source, ws):
    url, _db = mongo_source
    out = take_backup(ws, url)
    check_verified(out, {"users", "events"})
    assert all(t.get("checksum") == "identical" for t in out["restore_test"]["tables"])
    names = [f["name"] for f in out["files"]]
    assert any(n.endswith(".bson.gz") for n in names) and any(
        n.endswith(".meta.json") for n in names
    )
    assert scratch_databases(url, ws) == []


def test_a_truncated_mongodb_export_fails_its_restore_test(mongo_source, ws):
    url, _db = mongo_source
    out = take_backup(ws, url, ["users"])
    assert out["verified"]
    folder = backups_dir(ws) / out["id"]
    truncate_and_rechecksum(folder)
    again = verify_backup(ws, out["id"], url)
    assert not again["verified"] and again["restore_test"]["stage"] == "restore"
    assert scratch_databases(url, ws) == []


# --- bad input -------------------------------------------------------------------------------


def test_a_dump_tool_missing_from_path_is_a_clear_error_naming_the_package(pg_url, ws,
                                                                          monkeypatch, tmp_path):  # fmt: skip
    seed_sql(pg_url, ws)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(DumpToolMissingError) as caught:
        take_backup(ws, pg_url)
    assert "pg_dump" in caught.value.message
    assert "postgresql-client" in caught.value.hint and "[backup]" in caught.value.hint
    assert list(backups_dir(ws).glob("bk-*")) == []  # nothing half-made is left


def test_a_tools_folder_from_the_config_is_used_when_path_lacks_the_tool(pg_url, workspace_dir,
                                                                        monkeypatch, tmp_path):  # fmt: skip
    seed_sql(pg_url, Workspace.open(workspace_dir))
    tools = tmp_path / "pgbin"
    tools.mkdir()
    for name in ("pg_dump", "pg_restore"):
        (tools / name).symlink_to(f"/usr/bin/{name}")
    (workspace_dir / "datamigration.toml").write_text(f'[backup]\ntools = "{tools}"\n')
    monkeypatch.setenv("PATH", "/nonexistent")
    out = take_backup(Workspace.open(workspace_dir), pg_url)
    assert out["verified"]


# --- passwords -------------------------------------------------------------------------------


def recording_shims(folder: Path, log: Path, *tools: str) -> None:
    """Wrappers that write their argv and whether a password reached them by environment or
    a defaults file, then run the real tool."""
    folder.mkdir()
    for tool in tools:
        script = folder / tool
        script.write_text(
            "#!/bin/sh\n"
            f'echo "ARGV $*" >> {log}\n'
            f'[ -n "$PGPASSWORD" ] && echo "ENV PGPASSWORD" >> {log}\n'
            f'exec /usr/bin/{tool} "$@"\n'
        )
        script.chmod(0o755)


@pytest.mark.parametrize("kind", ["pg", "mysql"])
def test_the_password_reaches_the_tools_by_environment_or_file_never_argv_or_manifest(
    kind, request, ws, tmp_path, monkeypatch
):
    secret = "S3cret-pw-4-backup"
    url = request.getfixturevalue("pg_url" if kind == "pg" else "mysql_url")
    seed_sql(url, ws)
    user = f"dm_bk_{os.getpid()}"
    with connect(url, ws) as admin:
        if kind == "pg":
            admin.execute([f"DROP ROLE IF EXISTS {user}",
                           f"CREATE ROLE {user} LOGIN SUPERUSER PASSWORD '{secret}'"],
                          autocommit=True)  # fmt: skip
        else:
            admin.execute([f"DROP USER IF EXISTS '{user}'@'%'",
                           f"CREATE USER '{user}'@'%' IDENTIFIED BY '{secret}'",
                           f"GRANT ALL ON *.* TO '{user}'@'%'"], autocommit=True)  # fmt: skip
    scheme, rest = url.split("://", 1)
    with_password = f"{scheme}://{user}:{secret}@{rest.split('@', 1)[1]}"
    log = tmp_path / "argv.log"
    tools = ("pg_dump", "pg_restore") if kind == "pg" else ("mariadb-dump", "mariadb")
    recording_shims(tmp_path / "shims", log, *tools)
    monkeypatch.setenv("DATAMIGRATION_BACKUP_TOOLS", str(tmp_path / "shims"))
    try:
        out = take_backup(ws, with_password)
    finally:
        with connect(url, ws) as admin:
            drop = f"DROP ROLE IF EXISTS {user}" if kind == "pg" else f"DROP USER '{user}'@'%'"
            admin.execute([drop], autocommit=True)
    assert out["verified"], out["restore_test"]
    recorded = log.read_text()
    assert ("--format=custom" if kind == "pg" else "--single-transaction") in recorded
    assert recorded.count("ARGV") >= 3  # --version, the dump and the restore ran through them
    assert secret not in recorded
    if kind == "pg":
        assert "ENV PGPASSWORD" in recorded
    else:
        assert "--defaults-extra-file=" in recorded
    folder = backups_dir(ws) / out["id"]
    for path in folder.iterdir():
        if path.suffix in (".json", ".sha256"):
            assert secret not in path.read_text()
    assert "***" in read_manifest(folder)["database"]


def test_a_backup_of_a_table_whose_foreign_key_points_outside_it_still_restores(pg_url, ws):
    seed_sql(pg_url, ws)
    with connect(pg_url, ws) as backend:
        backend.execute([
            "CREATE TABLE teams (id INTEGER PRIMARY KEY, owner INTEGER REFERENCES users (id))",
            "INSERT INTO teams VALUES (1, 1), (2, 5)",
        ])  # fmt: skip
    out = take_backup(ws, pg_url, ["teams"])
    check_verified(out, {"teams"})
    whole = take_backup(ws, pg_url)  # the whole database restores its foreign keys too
    check_verified(whole, {"users", "notes", "teams"})
