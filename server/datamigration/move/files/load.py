"""`import_tables(request)`: an export directory into a database, checked before and after.

Before anything connects: the manifest is read and checked against its schema, and every file
to load is checked against it (size and SHA-256; `manifest.verify_files`): a truncated or
altered file is refused by name and the target is never touched.

Then the import is a copy whose source is the files. The target schema is planned by the copy
engine from the manifest's source schema (`move.schema.plan_table`: the type map, NOT NULL,
precision, float width, defaults, keys and names), refused on the same grounds
(`move.runner.check_conversions` / `check_targets`: conversions not accepted, an incompatible
table, a table holding rows without `truncate`), created by the target backend
(`create_target`: primary key only), loaded through the backend's bulk writer (`bulk_writer`:
COPY on PostgreSQL; refused rows set aside in a rejects file, or the first one stops the run
with `strict`), committed every `commit_rows` rows, and finished by `finish_target` (unique
constraints, indexes, foreign keys, identities past the loaded maximum).

Last, each table is read back from the target (`Backend.iter_rows`) and its count and row
checksum (`rowsum`) are compared with the manifest's: the import's validation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datamigration.coordination.announce import post_status
from datamigration.db.base import Backend, connect
from datamigration.db.model import Schema, schema_from_dict
from datamigration.errors import UserInputError
from datamigration.move.files import manifest as mf
from datamigration.move.files.columns import FileColumn
from datamigration.move.files.formats import file_format
from datamigration.move.files.rowsum import RowChecksum
from datamigration.move.rejects import RejectFile, read_rejects
from datamigration.move.request import CopyFailedError, CopyRequest, TargetNotEmptyError
from datamigration.move.runner import check_conversions, check_targets, prepare_targets
from datamigration.move.schema import TablePlan, plan_table
from datamigration.move.state import new_run_id
from datamigration.validate.filesums import sha256_of
from datamigration.workspace.root import Workspace

Progress = Callable[[str, dict[str, Any]], None]
DEFAULT_COMMIT_ROWS = 200_000


@dataclass(frozen=True)
class ImportRequest:
    """Load `tables` (all when empty) of the export in `directory` into `target`."""

    directory: str
    target: str
    tables: tuple[str, ...] = ()
    workspace: str = "."
    batch_size: int = 10_000
    commit_rows: int = DEFAULT_COMMIT_ROWS
    accept_conversions: bool = False
    truncate: bool = False
    strict: bool = False
    dry_run: bool = False

    def __post_init__(self) -> None:
        for name in ("batch_size", "commit_rows"):
            if int(getattr(self, name)) < 1:
                raise UserInputError(
                    f"{name} must be 1 or more, not {getattr(self, name)}",
                    hint=f"Give a positive {name}.",
                )


def _quiet(event: str, data: dict[str, Any]) -> None:
    return None


def import_action(request: ImportRequest, workspace: Any) -> Any:
    """The exact action a person confirms (the same on the CLI and in the MCP tool)."""
    from datamigration.confirmation import Action
    from datamigration.db.urls import resolve

    dst = resolve(request.target, workspace).redacted
    manifest = Path(request.directory) / mf.MANIFEST
    what = ", ".join(request.tables) or "every table"
    verb = "empty and load" if request.truncate else "load"
    summary = f"import {what} of the export in {request.directory}: {verb} into {dst}"
    payload = {
        "directory": request.directory,
        # the export confirmed is this one: another export put in its place needs a new OK
        "manifest_sha256": sha256_of(manifest) if manifest.is_file() else None,
        "target": dst,
        "tables": list(request.tables),
        "truncate": request.truncate,
        "accept_conversions": request.accept_conversions,
    }
    return Action("import_data", summary, payload)


@dataclass
class _Table:
    """One table of the import: its manifest entry, source columns and target plan."""

    entry: dict[str, Any]
    columns: list[FileColumn]
    plan: TablePlan

    @property
    def name(self) -> str:
        return self.plan.name


def plan_import(
    manifest: dict[str, Any], entries: Sequence[dict[str, Any]], dst: Backend
) -> tuple[list[_Table], Schema]:
    """The target plan of each table, from the manifest's source schema (as `copy` plans)."""
    schema = schema_from_dict(manifest["schema"])
    dialect = manifest["source"]["dialect"]
    names = {e["name"] for e in entries}
    out = []
    for entry in entries:
        table = schema.table(entry["name"])
        if table is None or list(table.column_names) != [c["name"] for c in entry["columns"]]:
            raise mf.bad_manifest(
                f"the schema of table {entry['name']} does not match its file's columns",
                table=entry["name"],
            )
        plan = plan_table(table, dialect, dst.dialect, names, entry["rows"])
        out.append(_Table(entry, [FileColumn.of(c, dialect) for c in table.columns], plan))
    return out, schema


def _batches_of(directory: Path, fmt: Any, t: _Table, batch_size: int) -> Iterator[list[Any]]:
    for f in t.entry["files"]:
        yield from fmt.reader(directory / f["path"], t.columns, batch_size)


def load_table(
    dst: Backend,
    t: _Table,
    batches: Iterator[list[Any]],
    rejects: RejectFile,
    request: ImportRequest,
    emit: Progress,
) -> int:
    """Load one table through the target's bulk writer, committing every `commit_rows` rows;
    returns the rows loaded (refused ones are in `rejects`)."""
    p = t.plan
    key_at = [p.columns.index(k) for k in p.key]
    loaded, exhausted = 0, False
    while not exhausted:
        exhausted = True
        since = 0
        with dst.bulk_writer(p.name, p.columns, p.key, p.types) as writer:
            for batch in batches:
                refused = writer.write(batch)
                for r in refused:
                    keys = [r.row[i] for i in key_at]
                    if request.strict:
                        raise CopyFailedError(
                            f"strict import stopped at the first refused row: {p.name} key "
                            f"{keys}: {r.error}",
                            hint="Fix the row or the target, or import without strict to set "
                            "refused rows aside (they are listed in the report).",
                            table=p.name,
                        )
                    rejects.add(keys, r.error, p.columns, r.row)
                loaded += len(batch) - len(refused)
                since += len(batch)
                emit("batch", {"table": p.name, "rows": loaded})
                if since >= request.commit_rows:
                    exhausted = False
                    break
    return loaded


def check_table(dst: Backend, t: _Table, batch_size: int) -> dict[str, Any]:
    """Read the table back from the target: count and row checksum against the manifest."""
    expected = t.entry["checksum"]
    rowsum = RowChecksum(expected["kinds"])
    for batch in dst.iter_rows(t.name, t.plan.key, columns=t.plan.columns, batch_size=batch_size):
        rowsum.add(batch.rows)
    return {
        "table": t.name,
        "source_rows": t.entry["rows"],
        "target_rows": rowsum.rows,
        "checksum": expected["value"],
        "target_checksum": rowsum.value,
        "identical": rowsum.rows == t.entry["rows"] and rowsum.value == expected["value"],
    }


def _check_targets(
    dst: Backend, plans: list[TablePlan], schema: Schema, as_copy: CopyRequest
) -> dict[str, Any]:
    """The copy's checks of the target tables, with the import's way out in the hint."""
    try:
        return check_targets(dst, plans, schema, as_copy, resuming=False)
    except TargetNotEmptyError as exc:
        error = TargetNotEmptyError(
            exc.message,
            hint="Import into empty tables, or let the import empty them first with "
            "--truncate (confirmed); an interrupted import is repeated with --truncate.",
            **exc.data,
        )
    raise error


def _dry_run(dst: Backend, tables: list[_Table], present: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for t in tables:
        exists = present[t.name]["table"] is not None
        ddl = [] if exists else dst.create_table_statements(t.plan.target)
        out.append(
            t.plan.to_dict()
            | {"exists": exists, "ddl": ddl + dst.after_load_statements(t.plan.target, None)}
        )
    return out


def import_tables(request: ImportRequest, *, progress: Progress | None = None) -> dict[str, Any]:
    """Verify, plan, load, finish and check (see the module docstring); returns the report."""
    emit = progress or _quiet
    ws = Workspace.open(request.workspace)
    directory = Path(request.directory)
    manifest = mf.load_manifest(directory)
    entries = mf.select_tables(manifest, request.tables)
    checked = mf.verify_files(directory, entries)
    fmt = file_format(manifest["format"])
    names = tuple(e["name"] for e in entries)
    as_copy = CopyRequest(
        source=str(directory),
        target=request.target,
        tables=names,
        workspace=str(ws.root),
        accept_conversions=request.accept_conversions,
        truncate=request.truncate,
        dry_run=request.dry_run,
        strict=request.strict,
    )
    with connect(request.target, ws) as dst:
        if dst.documents:
            raise UserInputError(
                f"import into a document store ({dst.label}) needs a mapping",
                hint="Import into PostgreSQL, MySQL/MariaDB or SQLite, then copy_data with a "
                "mapping into MongoDB.",
            )
        tables, schema = plan_import(manifest, entries, dst)
        plans = [t.plan for t in tables]
        conversions = check_conversions(plans, as_copy)
        present = _check_targets(dst, plans, schema, as_copy)
        base = {
            "directory": str(directory),
            "source": manifest["source"]["url"],
            "target": dst.url.redacted,
            "format": fmt.name,
            "files_verified": checked,
            "conversions": conversions,
        }
        if request.dry_run:
            return base | {"dry_run": True, "tables": _dry_run(dst, tables, present)}
        prepare_targets(dst, plans, present, as_copy)
        return base | _load_all(ws, dst, directory, fmt, tables, request, emit)


def _load_all(
    ws: Workspace,
    dst: Backend,
    directory: Path,
    fmt: Any,
    tables: list[_Table],
    request: ImportRequest,
    emit: Progress,
) -> dict[str, Any]:
    started = time.perf_counter()
    run_id = new_run_id()
    dst.before_load()
    emit("start", {"run_id": run_id, "tables": {t.name: t.entry["rows"] for t in tables}})
    rows = sum(t.entry["rows"] for t in tables)
    notes = [
        post_status(
            ws,
            f"Import {run_id} started: {', '.join(t.name for t in tables)} ({rows} rows) "
            f"from the export in {directory.name} into {dst.label}",
            None,
        )
    ]
    loaded = {}
    for i, t in enumerate(tables):
        rejects = RejectFile(ws.state_dir, run_id, t.name, i)
        batches = _batches_of(directory, fmt, t, request.batch_size)
        loaded[t.name] = load_table(dst, t, batches, rejects, request, emit)
    for t in tables:
        now, _ = dst.describe_target(t.name)
        maxima = dst.column_maxima(t.name, t.plan.identity_columns())
        dst.finish_target(t.plan.target, now, maxima)
        emit("table_done", {"table": t.name, "rows": loaded[t.name]})
    validation = []
    for t in tables:
        validation.append(check_table(dst, t, request.batch_size))
        emit("validate", validation[-1])
    rejected, first = read_rejects(ws.state_dir, run_id)
    passed = all(v["identical"] for v in validation) and not rejected
    emit("finish", {"run_id": run_id, "passed": passed, "rows": sum(loaded.values())})
    verdict = "passed" if passed else "FAILED"
    notes.append(
        post_status(
            ws,
            f"Import {run_id} finished: {sum(loaded.values())} rows loaded, {rejected} refused; "
            f"check against the manifest {verdict}",
            None,
            test_status="passing" if passed else "failing",
        )
    )
    return {
        "dry_run": False,
        "run_id": run_id,
        "tables": [t.plan.to_dict() | {"rows_loaded": loaded[t.name]} for t in tables],
        "rows_loaded": sum(loaded.values()),
        "rejected": rejected,
        "rejects": first,
        "rejects_dir": ws.relative(ws.state_dir / "rejects" / run_id) if rejected else None,
        "validation": validation,
        "passed": passed,
        "seconds": round(time.perf_counter() - started, 3),
        "notes": [n for n in notes if n],
    }
