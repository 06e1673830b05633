"""Take a backup and prove it restores; verify an existing one again.

`take_backup`: count the tables, let the database's backend dump them (db/<db>/backup.py),
checksum every file (the SHA-256 sidecars of `datamigration checksum`), then the restore test:
the backend restores the dump into a scratch database, the database checks its integrity where
it can (SQLite), and the Validation engine compares every table of the restored copy with the
source (`count_match`, and `checksum_diff` where the table has a key). The scratch database is
dropped afterwards whatever happened. The manifest records all of it; `verified` is true only
when every check passed.

`verify_backup`: the files against the checksums the manifest recorded (a flipped byte or a
truncated file is found before anything is restored), then the restore test again.

The restore test compares with the source as it is now: rows written to the source after the
dump show up as differences, so a backup of a database under heavy writes verifies best when
taken in a quiet moment (or of the tables a step is about to change, which the plan's earlier
steps already stopped writing to).
"""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from datamigration.db.backup import Dump
from datamigration.db.base import Backend, connect
from datamigration.db.urls import resolve
from datamigration.errors import DataMigrationError, UserInputError
from datamigration.safety.backup.gate import same_database_key
from datamigration.safety.backup.manifest import (
    BackupSettings,
    backups_dir,
    folder_of,
    new_id,
    now_text,
    read_manifest,
    summary,
    write_manifest,
)
from datamigration.validate.filesums import sha256_of, verify_checksums, write_checksum

Progress = Callable[[str], None]


def _covered(backend: Backend, tables: Sequence[str] | None) -> list[tuple[str, bool]]:
    """(name, has a key) of every table or collection the backup covers."""
    schema = backend.inspect(tables=list(tables) if tables else None)
    found: dict[str, bool] = {}
    default = (None, "public", "main", backend.url.database)  # schemas a bare name finds
    for t in schema.tables:
        name = t.name if t.schema in default else t.qualified_name
        found[name] = t.primary_key is not None
    for c in schema.collections:
        found[c.name] = True  # every document has its _id
    missing = [t for t in tables or () if t not in found and t.rpartition(".")[2] not in found]
    if missing:
        raise UserInputError(
            f"no table {', '.join(missing)} in {backend.label}",
            hint="Check the names with the inspect tool (or `datamigration inspect DB`).",
            tables=missing,
        )
    return [(n, k) for n, k in found.items() if not tables or n in tables
            or n.rpartition(".")[2] in tables]  # fmt: skip


def take_backup(
    workspace: Any,
    db: str,
    tables: Sequence[str] | None = None,
    *,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Dump `tables` (or the whole database) of `db`, checksum, restore-test; the manifest."""
    say = progress or (lambda _m: None)
    settings = BackupSettings.of(workspace)
    url = resolve(db, workspace)
    backup_id = new_id()
    folder = backups_dir(workspace) / backup_id
    with connect(db, workspace) as backend:
        covered = _covered(backend, tables)
        counts = {name: backend.exact_count(name) for name, _ in covered}
        folder.mkdir(parents=True, mode=0o700)
        manifest: dict[str, Any] = {
            "version": 1, "id": backup_id, "created_at": now_text(), "database": url.redacted,
            "dialect": url.dialect, "whole_database": not tables,
            "tables": [{"name": n, "rows": counts[n], "keyed": k} for n, k in covered],
        }  # fmt: skip
        say(f"dumping {len(covered)} table(s) of {url.redacted}")
        started = time.perf_counter()
        try:
            dump = backend.dump_backup(folder, list(tables) if tables else None,
                                       tools=settings.tools)  # fmt: skip
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        manifest["dump_seconds"] = round(time.perf_counter() - started, 3)
        manifest.update(_files(folder, dump), format=dump.format, tools=dict(dump.tools))
        say(f"restore test of {backup_id}")
        _record_test(manifest, _restore_test(workspace, backend, folder, manifest, url.url))
        write_manifest(folder, manifest)
    return _answer(workspace, manifest)


def verify_backup(
    workspace: Any, backup_id: str, db: str | None = None, *, progress: Progress | None = None
) -> dict[str, Any]:
    """Check the files against the manifest's checksums, then restore-test again."""
    say = progress or (lambda _m: None)
    folder = folder_of(workspace, backup_id)
    manifest = read_manifest(folder)
    broken = _checksum_problems(folder, manifest)
    if broken:
        _record_test(manifest, {"passed": False, "stage": "checksums", "error": broken})
        write_manifest(folder, manifest)
        return _answer(workspace, manifest)
    source = db or manifest["database"]
    if "***" in source and not db:
        raise UserInputError(
            f"backup {backup_id} was taken of {source}, whose password is not stored",
            hint="Pass the database again (db / --db), or a connection name from "
            "datamigration.toml whose password comes from ${VAR}.",
        )
    url = resolve(source, workspace)
    if same_database_key(url) != same_database_key(resolve(manifest["database"], workspace)):
        raise UserInputError(
            f"backup {backup_id} is of {manifest['database']}, not {url.redacted}",
            hint="Verify a backup against the database it was taken of.",
        )
    say(f"restore test of {backup_id}")
    with connect(source, workspace) as backend:
        _record_test(manifest, _restore_test(workspace, backend, folder, manifest, url.url))
    write_manifest(folder, manifest)
    return _answer(workspace, manifest)


def _files(folder: Path, dump: Dump) -> dict[str, Any]:
    files = []
    for name in dump.files:
        path = folder / name
        write_checksum(path)
        files.append({"name": name, "bytes": path.stat().st_size, "sha256": sha256_of(path)})
    return {"files": files, "bytes": sum(f["bytes"] for f in files)}


def _checksum_problems(folder: Path, manifest: dict[str, Any]) -> str:
    """What does not match: the manifest's SHA-256 and the `.sha256` sidecar of each file."""
    problems = []
    for f in manifest.get("files", []):
        path = folder / f["name"]
        if not path.is_file():
            problems.append(f"{f['name']}: file is missing")
            continue
        if path.stat().st_size != f["bytes"] or sha256_of(path) != f["sha256"]:
            problems.append(f"{f['name']}: checksum mismatch (the file changed since the backup)")
            continue
        sidecar = path.with_name(path.name + ".sha256")
        if sidecar.is_file():
            problems += [f"{c.path}: {c.problem}" for c in verify_checksums(sidecar) if not c.ok]
    return "; ".join(problems)


def _record_test(manifest: dict[str, Any], test: dict[str, Any]) -> None:
    test["at"] = now_text()
    manifest["restore_test"] = test
    manifest["verified"] = bool(test["passed"])
    manifest["verified_at"] = test["at"] if test["passed"] else None


def _restore_test(
    workspace: Any, backend: Backend, folder: Path, manifest: dict[str, Any], source_url: str
) -> dict[str, Any]:
    """Restore into a scratch database, check its integrity, compare every table; drop it."""
    dump = Dump(tuple(f["name"] for f in manifest["files"]), manifest["format"],
                manifest.get("tools", {}), partial=not manifest.get("whole_database"))  # fmt: skip
    scratch = f"dm_restore_{secrets.token_hex(4)}"
    tools = BackupSettings.of(workspace).tools
    started = time.perf_counter()
    try:
        restored = backend.restore_backup(folder, dump, scratch, tools=tools)
    except DataMigrationError as exc:
        return {"passed": False, "stage": "restore", "error": exc.message,
                "restore_seconds": round(time.perf_counter() - started, 3)}  # fmt: skip
    out: dict[str, Any] = {"restore_seconds": round(time.perf_counter() - started, 3)}
    try:
        out["integrity"] = backend.check_restored(restored)
        if out["integrity"] is not None:
            return out | {"passed": False, "stage": "integrity",
                          "error": f"integrity check failed: {out['integrity']}"}  # fmt: skip
        return out | _compare(workspace, manifest, source_url, restored)
    finally:
        backend.drop_restored(scratch)


def _compare(
    workspace: Any, manifest: dict[str, Any], source_url: str, restored: str
) -> dict[str, Any]:
    """The Validation engine on source vs restored copy: counts, and checksums where keyed."""
    from datamigration.validate.rules import run_rules

    rules = []
    for t in manifest["tables"]:
        rules.append({"id": f"count:{t['name']}", "type": "count_match", "table": t["name"]})
        if t.get("keyed"):
            rules.append({"id": f"checksum:{t['name']}", "type": "checksum_diff",
                          "table": t["name"]})  # fmt: skip
    started = time.perf_counter()
    try:
        run = run_rules({"name": f"restore test {manifest['id']}", "rules": rules}, workspace,
                        source=source_url, target=restored)  # fmt: skip
    except DataMigrationError as exc:
        return {"passed": False, "stage": "compare", "error": exc.message}
    per_table: dict[str, dict[str, Any]] = {}
    for r in run.results:
        entry = per_table.setdefault(str(r.table), {"table": r.table})
        if r.type == "count_match":
            entry.update(source_rows=r.measured["source"], restored_rows=r.measured["target"])
        else:
            entry["checksum"] = "identical" if r.passed else r.message
        entry["passed"] = entry.get("passed", True) and r.passed
    failed = [r.message for r in run.results if not r.passed]
    out: dict[str, Any] = {
        "passed": run.passed,
        "compare_seconds": round(time.perf_counter() - started, 3),
        "tables": list(per_table.values()),
    }
    if failed:
        out.update(stage="compare", error="restored copy differs from the source: "
                   + "; ".join(failed[:5]))  # fmt: skip
    return out


def _answer(workspace: Any, manifest: dict[str, Any]) -> dict[str, Any]:
    """What both faces show: the summary line plus the restore test's details."""
    return summary(manifest, workspace) | {
        "restore_test": manifest["restore_test"],
        "files": manifest["files"],
        "tools": manifest.get("tools", {}),
    }
