"""The front door of shadow reads: every part run, the gate decided, the report written.

`shadow_reads` is the one function the CLI (`datamigration shadow`), the MCP tool
(`shadow_reads`) and the executor's `shadow_reads` operation call. It reads both sides and
never writes to either; it writes the report (JSON + markdown) under
`<docs>/validation/shadow-<name>.*` beside the other validation reports.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datamigration.db import connect
from datamigration.db.urls import resolve
from datamigration.errors import UserInputError
from datamigration.redact import redact_text
from datamigration.validate.diff_plan import DiffOptions
from datamigration.validate.shadow import keys, queries
from datamigration.validate.shadow.tally import Gate, ShadowReadsFailedError, Tally

DEFAULT_SAMPLE = 10_000


@dataclass(frozen=True)
class ShadowRequest:
    """What to compare. `tables` are read by key (against the same names on the target, or
    through `mapping`, or `target_table` with `key`/`columns`/`field_map` for one pair);
    `queries_file` and `pg_top` add the application's queries."""

    source: str
    target: str
    tables: tuple[str, ...] = ()
    target_table: str | None = None
    key: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    field_map: Mapping[str, str] = field(default_factory=dict)
    mapping_file: str | None = None
    sample: int = DEFAULT_SAMPLE
    seed: int = 0
    queries_file: str | None = None
    pg_top: int = 0
    gate: Gate = field(default_factory=Gate)
    name: str | None = None


def _check(req: ShadowRequest) -> None:
    if not (req.tables or req.queries_file or req.pg_top):
        raise UserInputError(
            "nothing to compare: name tables, a queries file or pg_stat_statements",
            hint="Give tables=[...] (by key), queries_file, or pg_stat_statements=N.",
        )
    if not 1 <= req.sample <= 1_000_000 or req.pg_top < 0:
        raise UserInputError(
            "sample must be 1..1,000,000 and pg_stat_statements 0 or more",
            hint="e.g. sample=10000, pg_stat_statements=20.",
        )
    if req.target_table and len(req.tables) != 1:
        raise UserInputError(
            "target_table pairs one table: name exactly one table",
            hint="Call once per pair of tables.",
        )


def _by_key(tally: Tally, req: ShadowRequest, ws: Any) -> None:
    options = DiffOptions(key=req.key, columns=req.columns, field_map=dict(req.field_map))
    mapping = None
    if req.mapping_file:
        from datamigration.move.mapping import mapping_for

        mapping, _ = mapping_for(req.source, ws.resolve(req.mapping_file), ws)
    for table in req.tables:
        cm = mapping.for_table(table) if mapping else None
        if mapping and cm is None:
            raise UserInputError(
                f"the mapping has no collection whose root is {table!r}",
                hint="Name a root table of the mapping file in tables.",
            )
        if cm is not None:
            keys.mapped_reads(tally, req.source, req.target, cm, options, req.sample, req.seed, ws)
        else:
            dst_table = req.target_table or table
            keys.table_reads(tally, req.source, table, req.target, dst_table, options,
                             req.sample, req.seed, ws)  # fmt: skip


def _by_queries(
    tally: Tally, req: ShadowRequest, ws: Any, from_file: list[tuple[str, bool]] | None
) -> None:
    with connect(req.source, ws) as src, connect(req.target, ws) as dst:
        if src.documents or dst.documents:
            raise UserInputError(
                "queries are replayed between SQL databases only",
                hint="Compare a MongoDB side by key: tables=[...] with mapping_file.",
            )
        if from_file is not None:
            queries.query_reads(tally, from_file, src, dst, "queries")
        if req.pg_top:
            top = queries.from_pg_stat_statements(src, req.pg_top, src.dialect, tally)
            queries.query_reads(tally, top, src, dst, "pg_stat_statements")


def _name(req: ShadowRequest) -> str:
    base = req.name or "-".join(req.tables) or "queries"
    return "shadow-" + (re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")[:60] or "reads")


def shadow_reads(workspace: Any, req: ShadowRequest, *, write: bool = True) -> dict[str, Any]:
    """Run the shadow reads of `req`; the report (with `passed`). Never raises on a failed
    gate: `require_passed` does, for the callers that must stop."""
    _check(req)
    started = time.perf_counter()
    tally = Tally()
    from_file = None
    if req.queries_file:  # a refused file refuses the run before anything is read
        text = _read_text(workspace, req.queries_file)
        dialect = resolve(req.source, workspace).dialect
        from_file = queries.load_queries(text, dialect, req.queries_file)
    if req.tables:
        _by_key(tally, req, workspace)
    if req.queries_file or req.pg_top:
        _by_queries(tally, req, workspace, from_file)
    passed, why = req.gate.verdict(tally.reads, tally.mismatches, tally.possible)
    report: dict[str, Any] = {
        "name": _name(req),
        "source": resolve(req.source, workspace).redacted,
        "target": resolve(req.target, workspace).redacted,
        "passed": passed,
        "verdict": why,
        "reads": tally.reads,
        "mismatches": tally.mismatches,
        "mismatch_rate": round(tally.mismatches / tally.reads, 6) if tally.reads else 0.0,
        "gate": {"max_mismatches": req.gate.max_mismatches, "min_reads": req.gate.min_reads},
        "seed": req.seed,
        "parts": tally.parts,
        "examples": tally.examples,
        "skipped": tally.skipped[:50],
        "notes": tally.notes,
        "seconds": round(time.perf_counter() - started, 3),
    }
    if write:
        json_path, md_path = write_report(workspace, report)
        report["report_json"] = workspace.relative(json_path)
        report["report_markdown"] = workspace.relative(md_path)
    return report


def _read_text(ws: Any, path: str) -> str:
    file = ws.resolve(path)
    if not file.is_file():
        raise UserInputError(f"queries file {path} not found", hint="Give a path in the workspace.")
    return file.read_text(encoding="utf-8")


def require_passed(report: Mapping[str, Any], **data: Any) -> None:
    """Raise ShadowReadsFailedError when the report's gate failed (the executor's step)."""
    if not report["passed"]:
        raise ShadowReadsFailedError(
            f"shadow reads failed: {report['verdict']} (mismatch rate "
            f"{report['mismatch_rate']:.4%}); see {report.get('report_json', 'the report')}",
            hint="Look at the examples, fix the new path (or the data) and run the step again; "
            "or roll the step back.",
            mismatches=report["mismatches"],
            reads=report["reads"],
            examples=list(report["examples"]),
            **data,
        )


def render_markdown(r: Mapping[str, Any]) -> str:
    verdict = "PASSED" if r["passed"] else "FAILED"
    lines = [
        f"# Shadow reads: {r['name']}", "",
        f"- Verdict: **{verdict}** ({r['verdict']})",
        f"- Source: `{r['source']}`", f"- Target: `{r['target']}`",
        (f"- Reads: {r['reads']:,}, mismatches: {r['mismatches']:,} "
         f"(rate {r['mismatch_rate']:.4%}), seed {r['seed']}, {r['seconds']:.2f} s"),
        "", "| part | reads | mismatches |", "|---|---|---|",
    ]  # fmt: skip
    lines += [f"| {p['what']} | {p['reads']:,} | {p['mismatches']:,} |" for p in r["parts"]]
    if r["examples"]:
        lines += ["", "## Examples", "", "| where | key | column | source | target |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for e in r["examples"]:
            cells = [str(e["where"]), json.dumps(e["key"], default=str), str(e["column"]),
                     json.dumps(e["source"], default=str), json.dumps(e["target"], default=str)]  # fmt: skip
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if r["skipped"]:
        lines += ["", "## Skipped", ""] + [
            f"- `{s['what'][:80]}`: {s['why']}" for s in r["skipped"]
        ]
    lines += [f"- Note: {n}" for n in r["notes"]]
    return redact_text("\n".join(lines) + "\n")


def write_report(workspace: Any, report: Mapping[str, Any]) -> tuple[Path, Path]:
    folder = workspace.docs_dir / "validation"
    folder.mkdir(parents=True, exist_ok=True)
    json_path, md_path = folder / f"{report['name']}.json", folder / f"{report['name']}.md"
    text = json.dumps(report, indent=2, default=str, sort_keys=True)
    json_path.write_text(redact_text(text) + "\n", encoding="utf-8")
    md_path.write_text(render_markdown(report), encoding="utf-8")
    return json_path, md_path


def shadow_pairs(
    workspace: Any, url: str, pairs: Sequence[Mapping[str, Any]], params: Mapping[str, Any]
) -> dict[str, Any]:
    """The in-place plan's shadow reads (old path vs new path in one database): each pair is a
    table, the table it is read against, the key, the columns and the field map."""
    reports = []
    for p in pairs:
        req = ShadowRequest(
            source=url, target=url, tables=(str(p["table"]),),
            target_table=str(p.get("target_table") or p["table"]),
            key=tuple(p.get("key") or ()), columns=tuple(p.get("columns") or ()),
            field_map=dict(p.get("field_map") or {}),
            sample=int(params.get("sample") or DEFAULT_SAMPLE), seed=int(params.get("seed") or 0),
            gate=Gate(int(params.get("max_mismatches") or 0), int(params.get("min_reads") or 0)),
            name=str(params.get("name") or p["table"]) + "-old-vs-new",
        )  # fmt: skip
        reports.append(shadow_reads(workspace, req))
    return {"reports": reports, "passed": all(r["passed"] for r in reports)}


def move_reads(workspace: Any, url: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """A move_table plan's shadow reads: its tables read by key on the source (`url`) and on
    the target the plan moves them to (through the plan's mapping, for a document target)."""
    req = ShadowRequest(
        source=url, target=str(params["target"]), tables=tuple(params.get("tables") or ()),
        mapping_file=params.get("mapping"), sample=int(params.get("sample") or DEFAULT_SAMPLE),
        seed=int(params.get("seed") or 0),
        gate=Gate(int(params.get("max_mismatches") or 0), int(params.get("min_reads") or 0)),
        name=str(params.get("name") or "move") + "-source-vs-target",
    )  # fmt: skip
    report = shadow_reads(workspace, req)
    return {"reports": [report], "passed": report["passed"]}
