"""The end of a copy run: constraints and identities, validation, state removal, the report.

After every partition is done: unique constraints, secondary indexes and foreign keys are
built and identities moved past the copied maximum (`Backend.finish_target`, which skips what
exists, so a run interrupted here finishes on resume); each table is validated by counts and
the checksum diff; the run's state rows are removed (no orphaned state); the report is
written and announced (`report`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from datamigration.move import from_documents, mapped_copy
from datamigration.move.rejects import read_rejects
from datamigration.move.request import CopyRequest
from datamigration.move.schema import TablePlan
from datamigration.move.worker import PartitionResult


def finish_tables(
    src: Any, dst: Any, plans: Sequence[TablePlan], request: CopyRequest, ws: Any = None
) -> dict[str, int]:
    """Every table's after-load work (`Backend.finish_target`); where the target allows it
    (`parallel_after_load`) the unique constraints, indexes and foreign keys of all the tables
    are built side by side on their own connections (`_build_side_by_side`)."""
    built = {}
    chains: list[tuple[Any, list[str]]] = []
    for p in plans:
        if mapped_copy.mapped(request, p.name) is not None:
            built[p.name] = mapped_copy.finish(
                dst, request, p, src.inspect(tables=[p.name]).table(p.name)
            )
            continue
        maxima = src.column_maxima(p.name, p.identity_columns())
        present, _ = dst.describe_target(p.name)
        if not dst.parallel_after_load:
            built[p.name] = dst.finish_target(p.target, present, maxima)
            continue
        mine = dst.after_load_chains(p.target, present)
        mine += [(None, [s]) for s in dst.identity_statements(p.target, maxima)]
        built[p.name] = sum(len(c) for _, c in mine)
        chains += mine
    if chains:
        _build_side_by_side(request, ws, dst, plans, chains)
    return built


def _build_side_by_side(
    request: CopyRequest,
    ws: Any,
    dst: Any,
    plans: Sequence[TablePlan],
    chains: Sequence[tuple[Any, list[str]]],
) -> None:
    """Run the chains on up to `workers` connections, each statement committing on its own
    (a crash leaves named objects the resumed run skips). A foreign key waits for the unique
    constraints of the table it references unless it references that table's primary key
    (there since the table was created); the first failure is raised once all have stopped."""
    from concurrent.futures import ThreadPoolExecutor

    from datamigration.db.base import connect

    def waits(fk: Any) -> bool:
        ref = next((p for p in plans if p.name == fk.ref_table), None) if fk else None
        pk = ref.target.primary_key if ref is not None else None
        return ref is not None and (pk is None or list(pk.columns) != list(fk.ref_columns))

    first = [c for fk, c in chains if not waits(fk)]
    then = [c for fk, c in chains if waits(fk)]
    width = max(1, min(request.workers, request.max_connections))

    def run(chain: list[str]) -> None:
        with connect(request.target, ws) as conn:
            conn.execute([*conn.after_load_session, *chain], autocommit=True)

    for batch in (first, then):
        if len(batch) <= 1 or width == 1:
            for chain in batch:
                dst.execute([*dst.after_load_session, *chain], autocommit=True)
            continue
        with ThreadPoolExecutor(min(width, len(batch))) as pool:
            futures = [pool.submit(run, c) for c in batch]
        for f in futures:
            f.result()


def validate_tables(
    request: CopyRequest, ws: Any, dst: Any, plans: Sequence[TablePlan], emit: Any
) -> list[dict[str, Any]]:
    """Counts and the checksum diff of every table (source vs target)."""
    from datamigration.validate.diff import DiffOptions, diff_tables

    out = []
    for p in plans:
        if mapped_copy.mapped(request, p.name) is not None:
            for summary in mapped_copy.validate(request, ws, p.name):
                out.append(summary)
                emit("validate", summary)
            continue
        field_map = {p.key[0]: "_id"} if dst.documents and len(p.key) == 1 else {}
        columns, skipped = from_documents.compared_columns(request, p, dst)
        options = DiffOptions(key=p.key, columns=columns, field_map=field_map)
        r = diff_tables(request.source, p.name, request.target, p.name, options, ws)
        summary = {
            "table": p.name,
            "source_rows": r["source"]["rows"],
            "target_rows": r["target"]["rows"],
            "identical": r["identical"],
            "missing_count": r["missing_count"],
            "extra_count": r["extra_count"],
            "changed_count": r["changed_count"],
            "missing": r["missing"][:20],
            "extra": r["extra"][:20],
            "changed": r["changed"][:20],
        } | ({"not_compared": skipped} if skipped else {})
        out.append(summary)
        emit("validate", summary)
    return out


def finish_run(
    ws: Any,
    request: CopyRequest,
    src: Any,
    dst: Any,
    store: Any,
    plans: Sequence[TablePlan],
    run_id: str,
    results: Sequence[PartitionResult],
    conversions: list[dict[str, Any]],
    emit: Any,
    timing: dict[str, float] | None = None,
) -> dict[str, Any]:
    from datamigration.move.report import announce, record_report

    timing = dict(timing or {})
    started = time.perf_counter()
    built = finish_tables(src, dst, plans, request, ws)
    timing["constraints_seconds"] = round(time.perf_counter() - started, 3)
    for p in plans:
        emit("table_done", {"table": p.name, "rows": p.rows})
    started = time.perf_counter()
    validation = validate_tables(request, ws, dst, plans, emit) if request.validate else []
    timing["validate_seconds"] = round(time.perf_counter() - started, 3)
    for v in validation:
        verdict = "identical" if v["identical"] else "DIFFERENT"
        announce(
            ws,
            request,
            f"Copy {run_id}: table {v['table']} copied, {v['target_rows']} of "
            f"{v['source_rows']} rows, {verdict}",
        )
    rejected, first_rejects = read_rejects(ws.state_dir, run_id)
    store.drop_run(run_id)
    copied = {p.name: 0 for p in plans}
    for r in results:
        copied[r.table] += r.rows
    passed = all(v["identical"] for v in validation) if request.validate else None
    report: dict[str, Any] = {
        "run_id": run_id,
        "source": src.url.redacted,
        "target": dst.url.redacted,
        "tables": [
            p.to_dict()
            | {"rows_copied_this_run": copied[p.name], "after_load_statements": built[p.name]}
            for p in plans
        ],
        "partitions_run": len(results),
        "pool": request.cluster and "dask" or request.pool,
        "partitions_streamed_raw": sum(r.mode == "raw" for r in results),
        "partitions_streamed_rows": sum(r.mode == "stream" for r in results),
        "partition_seconds": round(sum(r.seconds for r in results), 3),
        **timing,
        "rows_per_second": round(sum(r.rows for r in results) / timing["copy_seconds"])
        if timing.get("copy_seconds")
        else None,
        "rows_copied": sum(copied.values()),
        "rejected": rejected,
        "rejects": first_rejects,
        "rejects_dir": ws.relative(ws.state_dir / "rejects" / run_id) if rejected else None,
        "conversions": conversions,
        "validation": validation,
        "passed": passed,
        "resumed": request.resume,
        "dry_run": False,
    }
    paths = record_report(ws, request, report)
    report.update(paths)
    summary = (
        f"Copy {run_id} finished: {report['rows_copied']} rows copied this run, "
        f"{rejected} rejected; validation "
        + {True: "passed", False: "FAILED", None: "left to the cutover's final diff"}[passed]
    )
    note = announce(ws, request, summary, report=paths.get("report_json"))
    report["notes"] = [note] if note else []
    emit("finish", {"run_id": run_id, "passed": passed, "rows": report["rows_copied"]})
    return report
