"""The export manifest: what a directory holds and how to prove each file is whole.

`manifest.json` (schema: `schemas/export-manifest.schema.json`) lists per table the key, row
count, row checksum (`rowsum`), columns with their source types and file types, and each file
with its size and SHA-256 (`validate.filesums.sha256_of`, the helper of the `checksum` and
`verify` commands); plus the source (redacted URL, dialect), the introspected source schema
and the tool version. `checksums.sha256` beside it lets `sha256sum -c` (or `datamigration
verify`) check the files on a machine without this tool.

The exporter writes the manifest last, atomically: a directory without one holds no complete
export. The importer reads it (`load_manifest`) and checks every file it will load
(`verify_files`) before it connects to the target.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datamigration import __version__
from datamigration.atomic import atomic_write
from datamigration.errors import ConflictError, FileFormatError, NotFoundError
from datamigration.safeload import load_json, require_object
from datamigration.validate.filesums import sha256_of

MANIFEST = "manifest.json"
SUMS = "checksums.sha256"
TOOL = "agileflow-datamigration"
_HINT = "manifest.json is written by `datamigration export`; export the tables again."


class ExportDamagedError(ConflictError):
    """A file of the export is missing, truncated or altered since the manifest was written."""

    default_hint = (
        "Copy the file again from the exporting machine (compare with checksums.sha256 there), "
        "or export the table again; nothing was written to the target."
    )


def new_manifest(source: Any, fmt: Any, batch_size: int) -> dict[str, Any]:
    """The manifest's header for an export from the open backend `source` in format `fmt`."""
    return {
        "manifest_version": 1,
        "tool": {"name": TOOL, "version": __version__},
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": {
            "url": source.url.redacted,
            "dialect": source.dialect,
            "database": source.url.database,
            "server_version": source.server_version(),
        },
        "format": fmt.name,
        "compression": fmt.compression,
        "batch_size": batch_size,
        "tables": [],
        "schema": {},
    }


def file_entry(path: Path, rows: int) -> dict[str, Any]:
    return {
        "path": path.name,
        "bytes": path.stat().st_size,
        "sha256": sha256_of(path),
        "rows": rows,
    }


def write_manifest(directory: Path, manifest: dict[str, Any]) -> Path:
    """Check the manifest against its schema, write checksums.sha256, then manifest.json."""
    from datamigration.plan.schemas import check

    check(manifest, "export-manifest", source=MANIFEST, hint=_HINT)
    lines = [f"{f['sha256']}  {f['path']}\n" for t in manifest["tables"] for f in t["files"]]
    atomic_write(directory / SUMS, "".join(lines), parents=False)
    path = directory / MANIFEST
    atomic_write(path, json.dumps(manifest, indent=2, default=str) + "\n", parents=False)
    return path


def refuse_existing(directory: Path) -> None:
    if (directory / MANIFEST).exists():
        raise ConflictError(
            f"{directory} already holds an export ({MANIFEST}); an export never overwrites one",
            hint="Export into a new or empty directory, or remove the old export first.",
            directory=str(directory),
        )


def load_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        raise NotFoundError(
            f"{directory} holds no {MANIFEST}: not a complete export",
            hint="Give the directory `datamigration export --to DIR` wrote; an export that "
            "failed or is still running has no manifest.",
            directory=str(directory),
        )
    from datamigration.plan.schemas import check

    data = load_json(path.read_text(encoding="utf-8"), source=MANIFEST, hint=_HINT)
    data = require_object(data, source=MANIFEST, hint=_HINT)
    check(data, "export-manifest", source=str(path), hint=_HINT)
    return data


def select_tables(manifest: dict[str, Any], names: Sequence[str]) -> list[dict[str, Any]]:
    """The manifest's table entries named (all when `names` is empty), in export order."""
    tables = manifest["tables"]
    if not names:
        return list(tables)
    known = {t["name"]: t for t in tables}
    missing = [n for n in names if n not in known]
    if missing:
        raise NotFoundError(
            f"the export holds no table {', '.join(missing)}",
            hint="Tables in this export: " + ", ".join(known),
            tables=missing,
        )
    return [t for t in tables if t["name"] in set(names)]


def verify_files(directory: Path, tables: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check size and SHA-256 of every file of `tables`; the first bad one is refused by name."""
    checked = []
    for table in tables:
        for f in table["files"]:
            path = directory / f["path"]
            problem = _problem(path, f)
            if problem:
                raise ExportDamagedError(
                    f"export file {f['path']} (table {table['name']}) {problem}; "
                    "refusing to import",
                    file=f["path"],
                    table=table["name"],
                )
            checked.append({"path": f["path"], "bytes": f["bytes"], "sha256": f["sha256"]})
    return checked


def _problem(path: Path, entry: dict[str, Any]) -> str:
    if not path.is_file():
        return "is missing"
    size = path.stat().st_size
    if size != entry["bytes"]:
        word = "truncated" if size < entry["bytes"] else "longer than exported"
        return f"is {word}: {size} bytes, the manifest says {entry['bytes']}"
    actual = sha256_of(path)
    if actual != entry["sha256"]:
        return f"was altered: SHA-256 {actual[:16]}..., the manifest says {entry['sha256'][:16]}..."
    return ""


def bad_manifest(message: str, **data: Any) -> FileFormatError:
    return FileFormatError(f"{MANIFEST}: {message}", hint=_HINT, **data)
