"""The copy orchestrator: `run_copy(request, progress=None)`, the one function both faces call.

Order of work: introspect the source and plan every target table (`schema`); stop before
writing anything if a column cannot be kept and conversions were not accepted, if a target
table is incompatible, or if it holds rows (unless `truncate`, which the faces confirm); a dry
run returns the plan of work here. Otherwise: create the state table and the target tables
(primary key only), cut the partitions (`partitions`) or read them back on resume (`state`),
run them largest table first on a local pool or a Dask cluster (`pools`, each partition by
`worker.copy_partition`), then build the unique constraints, indexes and foreign keys and move
identities past the copied maximum, validate every table (counts + the checksum diff of `validate.diff`), remove the run's state and write
the report (`report`). Progress goes to `progress(event, data)`: start, table_start,
partition, table_done, validate, finish.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, wait
from typing import Any

from datamigration.db.base import Backend, connect
from datamigration.errors import ConflictError, DataMigrationError, NotFoundError
from datamigration.move import from_documents, mapped_copy, state
from datamigration.move import partitions as parts_mod
from datamigration.move.partitions import Partition
from datamigration.move.pools import open_pool, preflight
from datamigration.move.request import (
    ConversionsRefusedError,
    CopyFailedError,
    CopyRequest,
    TargetNotEmptyError,
)
from datamigration.move.schema import TablePlan, compatibility, plan_table, with_raw_format
from datamigration.move.worker import PartitionResult, RowRefusedError, copy_partition
from datamigration.workspace.root import Workspace

Progress = Callable[[str, dict[str, Any]], None]


def _quiet(event: str, data: dict[str, Any]) -> None:
    return None


def plan_tables(src: Backend, dst: Backend, request: CopyRequest) -> tuple[list[TablePlan], Any]:
    """Every table's target plan, from one introspection of the source."""
    collections = from_documents.source_tables(request)
    if collections is not None:
        return from_documents.plan_collections(src, dst, request, collections)
    schema = src.inspect(tables=list(request.tables))
    missing = [t for t in request.tables if schema.table(t) is None]
    if missing:
        names = [t.name for t in src.inspect().tables]
        close = {t: difflib.get_close_matches(t, names, n=1) for t in missing}
        guess = "; ".join(f"{t}: did you mean {c[0]!r}?" for t, c in close.items() if c)
        raise NotFoundError(
            f"table(s) not found on the source {src.label}: {', '.join(missing)}",
            hint=guess
            or "List the source's tables with the inspect tool (datamigration db inspect).",
            tables=missing,
        )
    copied = set(request.tables)
    fmt = src.raw_format if src.raw_format and src.raw_format == dst.raw_format else None
    plans = [
        plan_table(schema.table(t), src.dialect, dst.dialect, copied, src.exact_count(t))
        for t in request.tables
    ]
    return [with_raw_format(p, fmt, dst.dialect) for p in plans], schema


def check_conversions(plans: Sequence[TablePlan], request: CopyRequest) -> list[dict[str, Any]]:
    listed = [c.to_dict() for p in plans for c in p.conversions]
    blocking = [c for c in listed if c["blocking"]]
    if blocking and not request.accept_conversions and not request.dry_run:
        lines = "; ".join(
            f"{c['table']}.{c['column']} {c['source']} -> {c['target']}: {c['reason']}"
            for c in blocking
        )
        raise ConversionsRefusedError(
            f"{len(blocking)} column(s) cannot be kept exactly on the target; nothing was "
            f"copied: {lines}",
            conversions=blocking,
        )
    return listed


def check_targets(
    dst: Backend, plans: Sequence[TablePlan], schema: Any, request: CopyRequest, resuming: bool
) -> dict[str, Any]:
    """What exists on the target; refuses incompatible tables and tables holding rows."""
    present: dict[str, Any] = {}
    for p in plans:
        table, rows = dst.describe_target(mapped_copy.target_name(request, p.name))
        present[p.name] = {"table": table, "rows": rows}
        if table is None:
            continue
        if not dst.documents:
            issues = compatibility(p, table, schema.table(p.name), schema.dialect, dst.dialect)
            if issues:
                raise ConflictError(
                    f"the target table {p.name} exists and cannot take the copy: "
                    + "; ".join(issues),
                    hint="Drop or rename the target table, or copy into another database.",
                    table=p.name,
                )
        if rows and not resuming and not request.truncate:
            raise TargetNotEmptyError(
                f"the target table {p.name} already holds {rows} row(s); a copy never appends "
                "to a table silently",
                table=p.name,
                rows=rows,
            )
    return present


def dry_run_plan(
    src: Backend,
    plans: Sequence[TablePlan],
    dst: Backend,
    present: dict[str, Any],
    conversions: list[dict[str, Any]],
    request: CopyRequest,
) -> dict[str, Any]:
    tables = []
    for p in plans:
        cut = parts_mod.cut(src, p, "dry-run", request.partition_rows)
        exists = present[p.name]["table"] is not None
        tables.append(
            p.to_dict()
            | {
                "exists": exists,
                "target_rows": present[p.name]["rows"],
                "ddl": mapped_copy.dry_run_ddl(request, p, src)
                or ([] if exists else dst.create_table_statements(p.target))
                + dst.after_load_statements(p.target, None),
                "partitions": [c.describe() for c in cut],
            }
        )
    return {
        "dry_run": True,
        "source": src.url.redacted,
        "target": dst.url.redacted,
        "tables": tables,
        "conversions": conversions,
        "conversions_accepted": request.accept_conversions,
    }


def start_or_resume(
    src: Backend,
    dst: Backend,
    store: Any,
    request: CopyRequest,
    plans: Sequence[TablePlan],
    present: dict[str, Any],
) -> tuple[str, list[Partition], set]:
    """(run id, its partitions, the keys (table, index) already done)."""
    fp = state.fingerprint(request, plans)
    by_name = {p.name: p for p in plans}
    info = {
        "source": src.label,
        "target": dst.label,
        "tables": list(request.tables),
        "started": state.new_run_id()[5:19],
    } | from_documents.header_info(request)
    if request.resume:
        records = store.rows()
        run_id = state.find_run(records, request, src.label, dst.label)
        if run_id is not None:
            mine = [r for r in records if r["run_id"] == run_id]
            state.check_fingerprint(next(r for r in mine if r["part"] == state.HEADER), fp)
            for p in plans:
                if present[p.name]["table"] is None:
                    mapped_copy.create_target(dst, request, p)
            found = [parts_mod.from_record(r, by_name[r["tbl"]]) for r in mine if r["part"] >= 0]
            done = {(r["tbl"], r["part"]) for r in mine if r["part"] >= 0 and r["status"] == "done"}
            return run_id, found, done
        holding = [p.name for p in plans if present[p.name]["rows"]]
        if holding and not request.truncate:
            raise TargetNotEmptyError(
                f"nothing to resume on the target, and {', '.join(holding)} already hold rows",
                tables=holding,
            )
    run_id = state.new_run_id()
    prepare_targets(dst, plans, present, request)
    cut = [part for p in plans for part in parts_mod.cut(src, p, run_id, request.partition_rows)]
    store.put([state.header(run_id, fp, info)] + [c.record() for c in cut])
    return run_id, cut, set()


def prepare_targets(
    dst: Backend, plans: Sequence[TablePlan], present: dict[str, Any], request: CopyRequest
) -> None:
    """Before a fresh load (a copy, an import): empty the tables holding rows when asked
    (children first), create the missing ones, release foreign keys on the existing ones."""
    holding = [p.name for p in children_first(plans) if present[p.name]["rows"]]
    if holding and request.truncate:
        dst.truncate_targets([mapped_copy.target_name(request, n) for n in holding])
    for p in plans:
        if present[p.name]["table"] is None:
            mapped_copy.create_target(dst, request, p)
        else:
            dst.release_foreign_keys(present[p.name]["table"], list(request.tables))


def children_first(plans: Sequence[TablePlan]) -> list[TablePlan]:
    """Tables that reference others before the tables they reference (for emptying)."""
    out: list[TablePlan] = []
    by_name = {p.name: p for p in plans}

    def visit(p: TablePlan, seen: set[str]) -> None:
        if p in out or p.name in seen:
            return
        seen.add(p.name)
        for other in plans:
            if any(fk.ref_table == p.name for fk in other.target.foreign_keys) and other is not p:
                visit(other, seen)
        out.append(p)

    for p in plans:
        visit(by_name[p.name], set())
    return out


def run_partitions(
    request: CopyRequest, todo: Sequence[Partition], workers: int, emit: Progress, run_id: str
) -> list[PartitionResult]:
    """Run the partitions on a local pool or a Dask cluster (`pools`); the first failure stops
    the run (its state stays)."""
    results: list[PartitionResult] = []
    if not todo:
        return results
    with open_pool(request, max(1, min(workers, len(todo)))) as pool:
        futures = {pool.submit(copy_partition, request, p): p for p in todo}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for f in done:
                p = futures[f]
                error = f.exception()
                if error is not None:
                    for other in pending:
                        other.cancel()
                    raise _failed(p, error, run_id)
                results.append(f.result())
                emit("partition", results[-1].to_dict() | {"done": len(results), "of": len(todo)})
    return results


def _failed(p: Partition, error: BaseException, run_id: str) -> CopyFailedError:
    if isinstance(error, RowRefusedError):
        text = f"strict copy stopped at the first refused row: {error}"
    elif isinstance(error, DataMigrationError):
        text = f"copy of {p.table} (partition {p.index}) failed: {error.message}"
    else:
        text = f"copy of {p.table} (partition {p.index}) failed: {type(error).__name__}: {error}"
    return CopyFailedError(text, run_id=run_id, table=p.table, partition=p.index)


def connection_budget(request: CopyRequest, dst: Backend) -> int:
    """Workers under the per-database connection cap (each holds one on each side); a single
    writer where the target is one file."""
    if dst.embedded:
        return 1
    return max(1, min(request.workers, request.max_connections))


def run_copy(request: CopyRequest, *, progress: Progress | None = None) -> dict[str, Any]:
    """Plan, copy, finish, validate and report (see the module docstring)."""
    from datamigration.move.finish import finish_run

    emit = progress or _quiet
    ws = Workspace.open(request.workspace)
    if request.cluster:
        preflight(request)
    with connect(request.source, ws) as src, connect(request.target, ws) as dst:
        request = from_documents.prepare(src, dst, mapped_copy.prepare(src, dst, request))
        plans, schema = plan_tables(src, dst, request)
        conversions = check_conversions(plans, request)
        present = check_targets(dst, plans, schema, request, resuming=request.resume)
        if request.dry_run:
            return dry_run_plan(src, plans, dst, present, conversions, request)
        store = dst.copy_state_table(request.state_table)
        store.ensure()
        run_id, parts, done = start_or_resume(src, dst, store, request, plans, present)
        rows_by_table = {p.name: p.rows for p in plans}
        todo = parts_mod.largest_first(
            [p for p in parts if (p.table, p.index) not in done], rows_by_table
        )
        emit(
            "start",
            {
                "run_id": run_id,
                "tables": rows_by_table,
                "partitions": len(parts),
                "todo": len(todo),
            },
        )
        from datamigration.move.report import announce

        announce(
            ws,
            request,
            f"Copy {run_id} started: {', '.join(request.tables)} "
            f"({sum(rows_by_table.values())} rows) from {src.label} to {dst.label}",
        )
        started = time.perf_counter()
        results = run_partitions(request, todo, connection_budget(request, dst), emit, run_id)
        timing = {"copy_seconds": round(time.perf_counter() - started, 3)}
        return finish_run(
            ws, request, src, dst, store, plans, run_id, results, conversions, emit, timing
        )
