"""The copy's report and announcements: JSON + markdown under the docs tree, bus `status`
messages (start and finish), and the verdict on the story when one is named.

Reports go to `<docs>/copies/<run_id>.json|.md` beside the validation reports, redacted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from datamigration.coordination.status import record_validation
from datamigration.move.request import CopyRequest
from datamigration.redact import redact_text


def render_markdown(report: dict[str, Any]) -> str:
    verdict = {True: "PASSED", False: "FAILED"}.get(
        report["passed"], "not run (a sync's snapshot: the cutover's final diff validates)"
    )
    lines = [
        f"# Copy report: {report['run_id']}",
        "",
        f"- Validation: **{verdict}**",
        f"- Source: `{report['source']}`",
        f"- Target: `{report['target']}`",
        f"- Rows copied this run: {report['rows_copied']} ({report['partitions_run']} partitions)",
        f"- Rows rejected: {report['rejected']}"
        + (f" (see `{report['rejects_dir']}`)" if report.get("rejects_dir") else ""),
        "",
        "| table | key | source rows | target rows | missing | extra | changed |",
        "|---|---|---|---|---|---|---|",
    ]
    keys = {t["table"]: ", ".join(t["key"]) for t in report["tables"]}
    for v in report["validation"]:
        lines.append(
            f"| {v['table']} | {keys.get(v['table'], '')} | {v['source_rows']} | "
            f"{v['target_rows']} | {v['missing_count']} | {v['extra_count']} | "
            f"{v['changed_count']} |"
        )
    if report["conversions"]:
        lines += ["", "## Conversions", ""]
        for c in report["conversions"]:
            lines.append(
                f"- {c['table']}.{c['column']}: {c['source']} -> {c['target']} ({c['reason']})"
            )
    return redact_text("\n".join(lines) + "\n")


def write_report(ws: Any, report: dict[str, Any]) -> tuple[Path, Path]:
    folder = ws.docs_dir / "copies"
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / f"{report['run_id']}.json"
    md_path = folder / f"{report['run_id']}.md"
    json_path.write_text(
        redact_text(json.dumps(report, indent=2, default=str, sort_keys=True)) + "\n",
        encoding="utf-8",
    )
    md_path.write_text(render_markdown(report), encoding="utf-8")
    return json_path, md_path


def record_report(ws: Any, request: CopyRequest, report: dict[str, Any]) -> dict[str, Any]:
    json_path, md_path = write_report(ws, report)
    out: dict[str, Any] = {
        "report_json": ws.relative(json_path),
        "report_markdown": ws.relative(md_path),
    }
    if request.story and report["passed"] is not None:
        rec = record_validation(
            ws,
            request.story,
            report["passed"],
            f"copy {report['run_id']}: {report['rows_copied']} rows, {report['rejected']} rejected",
            str(json_path),
            command="datamigration copy",
            passed_count=sum(v["identical"] for v in report["validation"]),
            failed_count=sum(not v["identical"] for v in report["validation"]),
        )
        out["test_status"] = rec.test_status
    return out


def announce(ws: Any, request: CopyRequest, text: str, **extra: Any) -> str | None:
    """A bus `status` message (a courtesy: a bus that cannot be written comes back as a note)."""
    from datamigration.coordination.announce import post_status

    return post_status(ws, text, request.story, **extra)
