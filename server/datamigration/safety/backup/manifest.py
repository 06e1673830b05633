"""Where backups live and what their manifest says: settings, ids, reading, writing, listing.

Each backup is a folder `<backups dir>/<id>/` holding the dump files, a `<file>.sha256` beside
each (the `sha256sum` format `datamigration verify` checks), and `manifest.json` (checked
against `schemas/backup-manifest.schema.json`): the redacted source URL, the tables with their
row counts, every file's size and SHA-256, the tools and their versions, and the restore test's
result and timing. `verified` is true only when the files matched their checksums and the
restore test passed.

Settings come from `[backup]` in datamigration.toml: `dir` (default `.datamigration/backups`),
`tools` (a folder holding pg_dump & co.), `required` (default true: the executor refuses a step
that can lose data without a verified backup), `max_age_hours` (default 24),
`require_rehearsal` (default false: a missing rehearsal is reported, not refused). The
environment variable DATAMIGRATION_BACKUP_REQUIRED (true/false) overrides `required`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from datamigration.atomic import atomic_write
from datamigration.errors import FileFormatError, NotFoundError, UserInputError

MANIFEST = "manifest.json"
SCHEMA = "backup-manifest"
DEFAULT_DIR = ".datamigration/backups"
#: overrides `[backup] required` for a whole environment (a test harness, a CI job that runs
#: migrations on throwaway databases); the executor's answer says when the check was off
REQUIRED_ENV = "DATAMIGRATION_BACKUP_REQUIRED"


@dataclass(frozen=True)
class BackupSettings:
    dir: str = DEFAULT_DIR
    tools: str | None = None
    required: bool = True
    max_age_hours: float = 24.0
    require_rehearsal: bool = False

    @classmethod
    def of(cls, workspace: Any) -> BackupSettings:
        section = (getattr(workspace, "config", None) or {}).get("backup") or {}
        if not isinstance(section, Mapping):
            raise UserInputError("[backup] in datamigration.toml must be a table",
                                 hint="Write it as a section: a line `[backup]`, then `max_age_hours = 24`.")  # fmt: skip
        kinds = {"dir": str, "tools": str, "required": bool, "max_age_hours": (int, float),
                 "require_rehearsal": bool}  # fmt: skip
        for key, value in section.items():
            if key not in kinds:
                raise UserInputError(f"[backup] {key} in datamigration.toml is not a setting",
                                     hint=f"Known settings: {', '.join(kinds)}.")  # fmt: skip
            if not isinstance(value, kinds[key]) or (key == "max_age_hours" and value <= 0):
                raise UserInputError(f"[backup] {key} = {value!r} in datamigration.toml has the "
                                     "wrong type", hint="dir and tools are strings, required "
                                     "and require_rehearsal true/false, max_age_hours a number "
                                     "above 0.")  # fmt: skip
        settings = cls(**section)
        forced = os.environ.get(REQUIRED_ENV, "").strip().lower()
        if forced in ("0", "false", "no", "off", "1", "true", "yes", "on"):
            settings = replace(settings, required=forced in ("1", "true", "yes", "on"))
        return settings


def backups_dir(workspace: Any) -> Path:
    """The folder of every backup (inside the workspace unless configured otherwise)."""
    configured = BackupSettings.of(workspace).dir
    path = Path(configured).expanduser()
    return path if path.is_absolute() else workspace.root / path


def now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def new_id() -> str:
    return f"bk-{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def write_manifest(folder: Path, data: Mapping[str, Any]) -> None:
    """Check against the schema, then write atomically (0600: it names the source database)."""
    from datamigration.coordination.schema_check import validator

    errors = sorted(validator(SCHEMA).iter_errors(dict(data)), key=lambda e: list(e.path))
    if errors:
        raise FileFormatError(f"backup manifest does not match its schema: {errors[0].message}",
                              hint="This is a bug; report it with the manifest.")  # fmt: skip
    atomic_write(folder / MANIFEST, json.dumps(data, indent=2, sort_keys=True) + "\n",
                 new_mode=0o600)  # fmt: skip


def folder_of(workspace: Any, backup_id: str) -> Path:
    """The folder of backup `backup_id`; a clear error for an unknown or malformed id."""
    root = backups_dir(workspace)
    if not backup_id.startswith("bk-") or "/" in backup_id or ".." in backup_id:
        raise UserInputError(f"{backup_id!r} is not a backup id",
                             hint="Backup ids look like bk-20260101T120000Z-a1b2c3; list them "
                             "with the backup tool (list=true) or `datamigration backups`.")  # fmt: skip
    folder = root / backup_id
    if not (folder / MANIFEST).is_file():
        raise NotFoundError(f"no backup {backup_id} in {root}",
                            hint="List the backups with `datamigration backups`.")  # fmt: skip
    return folder


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FileFormatError(f"{folder / MANIFEST} cannot be read: {exc}",
                              hint="Take a new backup; this one cannot be trusted.") from None  # fmt: skip
    if not isinstance(data, dict):
        raise FileFormatError(f"{folder / MANIFEST} is not a JSON object",
                              hint="Take a new backup.")  # fmt: skip
    return data


def all_manifests(workspace: Any) -> list[dict[str, Any]]:
    """Every readable manifest, newest first (an unreadable folder is skipped)."""
    root = backups_dir(workspace)
    out = []
    for folder in sorted(root.glob("bk-*"), reverse=True) if root.is_dir() else []:
        try:
            out.append(read_manifest(folder))
        except FileFormatError:
            continue
    return out


def summary(m: Mapping[str, Any], workspace: Any | None = None) -> dict[str, Any]:
    """One line of the list: what a person or the model needs to choose a backup."""
    test = m.get("restore_test") or {}
    out = {
        "id": m.get("id"),
        "created_at": m.get("created_at"),
        "database": m.get("database"),
        "tables": [t.get("name") for t in m.get("tables", [])],
        "rows": sum(int(t.get("rows", 0)) for t in m.get("tables", [])),
        "bytes": m.get("bytes"),
        "verified": bool(m.get("verified")),
        "verified_at": m.get("verified_at"),
        "restore_seconds": test.get("restore_seconds"),
    }
    if not test.get("passed") and test.get("error"):
        out["problem"] = test["error"]
    if workspace is not None:
        out["path"] = workspace.relative(backups_dir(workspace) / str(m.get("id")))
    return out


def list_backups(workspace: Any, *, limit: int = 50) -> dict[str, Any]:
    found = all_manifests(workspace)
    return {
        "backups": [summary(m, workspace) for m in found[:limit]],
        "total": len(found),
        "truncated": len(found) > limit,
        "dir": workspace.relative(backups_dir(workspace)),
    }
