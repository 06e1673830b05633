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
    src: Any, dst: Any, plans: Sequence[TablePlan], request: CopyRequest
) -> dict[str, int]:
    built = {}
    for p in plans:
        if mapped_copy.mapped(request, p.name) is not None:
            built[p.name] = mapped_copy.finish(
                dst, request, p, src.inspect(tables=[p.name]).table(p.name)
            )
            continue
        maxima = src.column_maxima(p.name, p.identity_columns())
        present, _ = dst.describe_target(p.name)
        built[p.name] = dst.finish_target(p.target, present, maxima)
    return built


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
    built = finish_tables(src, dst, plans, request)
    timing["constraints_seconds"] = round(time.perf_counter() - started, 3)
    for p in plans:
        emit("table_done", {"table": p.name, "rows": p.rows})
    started = time.perf_counter()
    validation = validate_tables(request, ws, dst, plans, emit)
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
    passed = all(v["identical"] for v in validation)
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
        "partitions_streamed_raw": sum(r.mode == "raw" for r in results),
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
        f"{rejected} rejected; validation {'passed' if passed else 'FAILED'}"
    )
    note = announce(ws, request, summary, report=paths.get("report_json"))
    report["notes"] = [note] if note else []
    emit("finish", {"run_id": run_id, "passed": passed, "rows": report["rows_copied"]})
    return report
