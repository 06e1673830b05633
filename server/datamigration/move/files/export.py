"""`export_tables(request)`: tables to files in a directory, with a manifest written last.

Each table is read in keyset batches (`Backend.iter_rows`, ordered by the key the copy engine
would partition on, `move.schema.choose_key`), so memory stays at one batch however large the
table is. Each file is streamed into a temporary file and renamed when complete
(`atomic.atomic_stream`); the manifest goes last (`manifest.write_manifest`).

A failure leaves no export behind: the files this run completed are removed and no manifest is
written. A full disk (ENOSPC, a quota, a file size limit) is reported as `ExportDiskFullError`
with the directory, what was written and what the tables hold.
"""

from __future__ import annotations

import contextlib
import errno
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datamigration.atomic import atomic_stream
from datamigration.coordination.announce import post_status
from datamigration.db.base import Backend, connect
from datamigration.db.model import Schema, Table
from datamigration.errors import DataMigrationError, NotFoundError, UserInputError
from datamigration.move.files import manifest as mf
from datamigration.move.files.columns import FileColumn
from datamigration.move.files.formats import file_format
from datamigration.move.files.rowsum import ALGORITHM, RowChecksum, column_kinds
from datamigration.move.request import KeylessTableError
from datamigration.move.schema import choose_key
from datamigration.workspace.root import Workspace

Progress = Callable[[str, dict[str, Any]], None]
DEFAULT_BATCH_SIZE = 10_000
#: errors that mean "no room": a full file system, a quota, a file size limit
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class ExportDiskFullError(DataMigrationError):
    """The export directory ran out of space; nothing of the export was kept."""

    exit_code = 5
    default_hint = (
        "Free space there or export to a directory on a larger disk (--to DIR), or export "
        "fewer tables at a time (--tables), then run the export again."
    )


@dataclass(frozen=True)
class ExportRequest:
    """Export `tables` of `source` into `directory` (already resolved by the face)."""

    source: str
    tables: tuple[str, ...]
    directory: str
    format: str = "parquet"
    workspace: str = "."
    batch_size: int = DEFAULT_BATCH_SIZE
    #: start a new file after this many rows (whole batches: a file may hold a little more);
    #: None: one file per table
    rows_per_file: int | None = None

    def __post_init__(self) -> None:
        if self.rows_per_file is not None and int(self.rows_per_file) < 1:
            raise UserInputError(
                f"rows_per_file must be 1 or more, not {self.rows_per_file}",
                hint="Give a positive number of rows, or leave it out for one file per table.",
            )
        if not self.tables:
            raise UserInputError(
                "name the tables to export", hint="e.g. tables=['users', 'orders'] (--tables)."
            )
        if int(self.batch_size) < 1:
            raise UserInputError(
                f"batch_size must be 1 or more, not {self.batch_size}",
                hint="Give a positive batch size (default 10000).",
            )
        file_format(self.format)


def _quiet(event: str, data: dict[str, Any]) -> None:
    return None


def source_tables(src: Backend, names: tuple[str, ...]) -> Schema:
    """The introspected source, refusing names it does not have (and a document store)."""
    if not src.sql:
        raise UserInputError(
            f"export reads SQL tables; {src.label} is a document store",
            hint="Export from PostgreSQL, MySQL/MariaDB or SQLite.",
        )
    schema = src.inspect(tables=list(names))
    missing = [t for t in names if schema.table(t) is None]
    if missing:
        raise NotFoundError(
            f"table(s) not found on the source {src.label}: {', '.join(missing)}",
            hint="List the source's tables with the inspect tool (datamigration db inspect).",
            tables=missing,
        )
    return schema


class _TableExport:
    """One table's export: its file(s), row checksum and manifest entry."""

    def __init__(self, src: Backend, table: Table, request: ExportRequest, emit: Progress):
        self.src, self.table, self.emit = src, table, emit
        self.request = request
        self.fmt = file_format(request.format)
        self.key = _key_of(table)
        self.columns = [FileColumn.of(c, src.dialect) for c in table.columns]
        kinds = column_kinds([c.source_type for c in self.columns], src.dialect)
        self.rowsum = RowChecksum(kinds)
        self.files: list[dict[str, Any]] = []
        self.file_types: list[str] = []

    def _path(self, directory: Path, index: int) -> Path:
        name = self.table.name
        if self.request.rows_per_file is None:
            return directory / f"{name}{self.fmt.suffix}"
        return directory / f"{name}.{index:05d}{self.fmt.suffix}"

    def run(self, directory: Path, written: list[Path]) -> dict[str, Any]:
        """Write the file(s), each complete before the next, appending each to `written`."""
        started = time.perf_counter()
        names = [c.name for c in self.columns]
        batches = self.src.iter_rows(
            self.table.name, self.key, columns=names, batch_size=self.request.batch_size
        )
        pending = next(batches, None)
        while True:
            path = self._path(directory, len(self.files))
            count, pending = self._one_file(path, pending, batches)
            written.append(path)
            self.files.append(mf.file_entry(path, count))
            if pending is None:
                break
        return {
            "name": self.table.name,
            "key": list(self.key),
            "rows": self.rowsum.rows,
            "seconds": round(time.perf_counter() - started, 3),
            "checksum": {
                "algorithm": ALGORITHM,
                "kinds": list(self.rowsum.kinds),
                "value": self.rowsum.value,
            },
            "columns": [
                {"name": c.name, "source_type": c.source_type, "nullable": c.nullable}
                | {"file_type": t}
                for c, t in zip(self.columns, self.file_types, strict=True)
            ],
            "files": self.files,
        }

    def _one_file(self, path: Path, pending: Any, batches: Any) -> tuple[int, Any]:
        """Batches into one file until the table ends or the file holds `rows_per_file` rows;
        (rows written, the first batch of the next file or None)."""
        limit = self.request.rows_per_file
        count = 0
        with atomic_stream(path) as fh:
            writer = self.fmt.writer(fh, self.table.name, self.columns)
            while pending is not None:
                writer.write(pending.rows)
                self.rowsum.add(pending.rows)
                count += len(pending.rows)
                self.emit("batch", {"table": self.table.name, "rows": self.rowsum.rows})
                pending = next(batches, None)
                if limit is not None and count >= limit:
                    break
            writer.close()
            self.file_types = writer.file_types()
        return count, pending


def _key_of(table: Table) -> tuple[str, ...]:
    """The key the table is read in order of (the copy's partition key)."""
    try:
        return choose_key(table)
    except KeylessTableError:
        error = KeylessTableError(
            f"table {table.name} has no primary key and no unique key on NOT NULL columns: an "
            "export reads a table in key order, a batch at a time, and cannot without one",
            hint="Add a primary key, or a UNIQUE constraint on NOT NULL columns, to the source "
            "table, then export again.",
            table=table.name,
        )
    raise error


def no_room(exc: BaseException) -> bool:
    """Is this (or what caused it) a full disk, a quota or a file size limit?"""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in NO_ROOM:
            return True
        text = str(seen)
        if "No space left" in text or "File too large" in text or "quota exceeded" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def export_tables(request: ExportRequest, *, progress: Progress | None = None) -> dict[str, Any]:
    """Export every table, then write the manifest; returns the manifest plus where it is."""
    emit = progress or _quiet
    fmt = file_format(request.format)
    ws = Workspace.open(request.workspace)
    directory = Path(request.directory)
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    mf.refuse_existing(directory)
    written: list[Path] = []
    current = ""
    try:
        with connect(request.source, ws) as src:
            schema = source_tables(src, request.tables)
            manifest = mf.new_manifest(src, fmt, request.batch_size)
            emit("start", {"tables": list(request.tables), "format": fmt.name})
            for name in request.tables:
                table = schema.table(name)
                assert table is not None
                current = name
                entry = _TableExport(src, table, request, emit).run(directory, written)
                manifest["tables"].append(entry)
                emit("table_done", {"table": name, "rows": entry["rows"]})
        manifest["schema"] = schema.to_dict()
        path = mf.write_manifest(directory, manifest)
    except BaseException as exc:
        _remove(written + [directory / mf.SUMS])
        if created:
            with contextlib.suppress(OSError):
                directory.rmdir()  # only if empty: nothing of ours is left in it
        if isinstance(exc, OSError | DataMigrationError) and no_room(exc):
            raise _disk_full(directory, current, written, exc) from None
        raise
    emit("finish", {"tables": len(manifest["tables"])})
    rows = sum(t["rows"] for t in manifest["tables"])
    note = post_status(
        ws,
        f"Export finished: {', '.join(request.tables)} ({rows} rows) from "
        f"{manifest['source']['url']} to {directory.name} ({fmt.name}, manifest written)",
        None,
    )
    return manifest | {
        "manifest": str(path),
        "directory": str(directory),
        "notes": [note] if note else [],
    }


def _remove(paths: list[Path]) -> None:
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _disk_full(
    directory: Path, table: str, written: list[Path], exc: BaseException
) -> ExportDiskFullError:
    done = ", ".join(p.name for p in written) or "no file"
    return ExportDiskFullError(
        f"the disk holding {directory} is full (or a size limit was reached) while exporting "
        f"table {table or '(none yet)'}: {exc}; {done} had been completed. Every file of this "
        "export was removed and no manifest was written",
        directory=str(directory),
        completed=[p.name for p in written],
    )
