"""plan.md: the plan as people review it, with a Mermaid diagram of the phases.

Rendered from the Plan only (never from the spec directly), so the document and plan.json say
the same thing; the hash printed at the top is what `execute` asks for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from datamigration.plan.backfill import batch_sql, boundary_sql
from datamigration.plan.dialects import dialect_class
from datamigration.plan.model import Operation, Plan, Step
from datamigration.plan.ops_mongodb import render
from datamigration.plan.store import docs_plan_dir, plan_json_text


def _dur(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def mermaid(plan: Plan) -> str:
    lines = ["```mermaid", "flowchart LR"]
    prev = None
    for p in plan.phases:
        lines.append(f'  subgraph {p.name}["{p.title}"]')
        for s in p.steps:
            label = s.title.replace('"', "'")
            shape = f'{s.id}{{{{"{label}"}}}}' if s.destructive else f'{s.id}["{label}"]'
            lines.append(f"    {shape}")
        lines.append("  end")
    for s in plan.steps:
        if prev is not None:
            arrow = " -->|validation + confirm| " if s.destructive else " --> "
            lines.append(f"  {prev}{arrow}{s.id}")
        prev = s.id
    lines.append("```")
    return "\n".join(lines)


def _op_sql(op: Operation) -> str:
    if op.kind == "backfill" and op.backfill is not None:
        b = op.backfill
        return (
            f"-- keyset batches of {b.batch_size:,} rows, one transaction each\n"
            f"-- next boundary:\n{boundary_sql(b, ['<last key>'])};\n"
            f"-- one batch:\n{batch_sql(b, ['<last key>'], ['<boundary>'])};"
        )
    if op.kind == "sql":
        return ";\n".join(op.statements) + ";"
    if op.kind == "document":
        return render(op)
    return f"-- {op.kind}: {json.dumps(dict(op.params), ensure_ascii=False)}"


def _monitoring_lines(plan: Plan) -> list[str]:
    """The thresholds every step is watched with, then what particular steps ask to watch."""
    m = plan.steps[0].monitoring if plan.steps else {}
    out: list[str] = []
    if m:
        throttle = m.get("throttle") or {}
        out.append(
            f"- Roll back a step when the error rate exceeds {m.get('error_rate_max', 0):.0%}, "
            f"p99 latency exceeds {m.get('latency_p99_max_ratio')}x the baseline; pause when "
            f"replication lag exceeds {m.get('replication_lag_max_seconds')} s."
        )
        if throttle:
            out.append(
                "- Backfills slow down when replication lag exceeds "
                f"{throttle.get('replication_lag_seconds')} s or p99 latency "
                f"{throttle.get('latency_p99_ratio')}x the baseline."
            )
    retries = next((s.monitoring["lock_retries"] for s in plan.steps
                    if s.monitoring.get("lock_retries")), None)  # fmt: skip
    if retries:
        waits = retries["lock_timeout_ms_per_attempt"]
        out.append(
            f"- A statement blocked by a held lock makes {retries['attempts']} attempts (lock "
            f"timeouts {', '.join(str(w) for w in waits)} ms, pauses with jitter between them) "
            f"and gives up after at most {retries['max_wait_seconds']} s, changing nothing."
        )
    for s in plan.steps:
        for note in s.monitoring.get("notes") or ():
            out.append(f"- {s.id} {s.title}: {note}")
        errors = s.monitoring.get("watch_errors") or ()
        if errors:
            out.append(
                f"- {s.id}: alert on application errors containing "
                + ", ".join(f"'{e}'" for e in errors)
                + "."
            )
    return out or ["- No thresholds: the plan has no steps."]


def _secs(value: Any) -> str:
    return f"{float(value):.2f} s" if isinstance(value, int | float) else "—"


def _rehearsal_lines(plan: Plan) -> list[str]:
    """The staging rehearsal's record (Plan.rehearsal): where it ran, whether the whole plan
    went through, and each step's time beside its estimate, then the rollback's times. Any
    field missing from the record is shown as a dash rather than guessed."""
    r = plan.rehearsal or {}
    where = r.get("database", "—")
    if r.get("throwaway_copy"):
        sampled = r.get("sampled_rows") or {}
        rows = ", ".join(f"{t} {n:,}" for t, n in sampled.items()) or "no rows"
        where = f"a throwaway copy of {where} (sampled rows: {rows})"
    passed = r.get("passed")
    verdict = "passed" if passed else ("did not finish" if passed is False else "—")
    out = [
        f"- Ran on {where} at {r.get('at', '—')}: {verdict}.",
        (
            f"- Whole plan: {_secs(r.get('full_run_seconds'))}; rollback of every reversible "
            f"step: {_secs(r.get('rollback_seconds'))}; rehearsal in all: "
            f"{_secs(r.get('seconds'))}."
        ),
    ]
    steps = {s.id: s for s in plan.steps}
    timed = list(r.get("steps") or ())
    if timed:
        out += ["", "| Step | Rehearsed | Estimated |", "|---|---|---|"]
        for t in timed:
            s = steps.get(t.get("step"))
            name = f"{t.get('step')} {s.title}" if s else str(t.get("step"))
            est = _dur(s.estimate_seconds) if s else "—"
            out.append(f"| {name} | {_secs(t.get('seconds'))} | {est} |")
    back = list(r.get("rollback_steps") or ())
    if back:
        out += ["", "Rollback, step by step (latest first):", ""]
        for t in back:
            s = steps.get(t.get("step"))
            name = f"{t.get('step')} {s.title}" if s else str(t.get("step"))
            out.append(f"- {name}: {_secs(t.get('seconds'))}")
    return out


def _header_lines(plan: Plan) -> list[str]:
    """Who, what and where, then why this pattern and not the others."""
    out: list[str] = [
        f"# Migration plan: {plan.title}",
        "",
        f"- Plan id: `{plan.id}`",
        (
            f"- Plan hash: `{plan.hash}` (execute with "
            f"`datamigration execute {plan.id} --hash {plan.hash[:12]}`)"
        ),
        f"- Database: {plan.database} ({plan.dialect})",
        f"- Story: {plan.story or '—'}",
        f"- Created: {plan.created_at}",
        "",
        f"## Pattern: {plan.pattern.replace('_', ' ')}",
        "",
        plan.pattern_reason[0].upper() + plan.pattern_reason[1:] + ".",
        "",
    ]
    for alt in plan.alternatives:
        out.append(f"- Not {alt['pattern'].replace('_', ' ')}: {alt['why_not']}")
    return out


def _estimate_lines(plan: Plan) -> list[str]:
    """The time figures with the rate's source, so a reader can judge how far to trust them."""
    e = plan.estimates
    out = [
        "## Estimates",
        "",
        (
            f"- Total database time: {_dur(e.total_seconds)} "
            f"({', '.join(f'{k} {_dur(v)}' for k, v in e.per_phase_seconds.items())})"
        ),
        f"- Downtime: {_dur(e.downtime_seconds)} — {e.downtime_reason}",
        f"- Backfill rate: {e.backfill_rows_per_second:,.0f} rows/s ({e.rate_source})",
    ]
    for t, n in e.table_rows.items():
        out.append(f"- {t}: {n:,} rows, {e.table_bytes.get(t, 0) / 1e6:,.1f} MB")
    return out + [f"- {n}" for n in e.notes]


def _step_lines(step: Step, fence: str) -> list[str]:
    """One step as the reviewer reads it: its flags, its SQL and rollback in the dialect's
    code fence, what to watch, its rules and its rollback triggers."""
    flags = []
    if step.destructive:
        flags.append("destructive")
    if not step.reversible:
        flags.append("point of no return")
    out = [
        "",
        f"### {step.id} {step.title}" + (f" ({', '.join(flags)})" if flags else ""),
        "",
        step.description,
        "",
        f"Estimated {_dur(step.estimate_seconds)}. Gates: {', '.join(step.gates) or 'none'}.",
    ]
    for op in step.operations:
        lock = f" — lock: {op.lock}" if op.lock else ""
        tx = "" if op.transactional else " (no transaction)"
        out += ["", f"{op.id}: {op.description}{tx}{lock}", "", f"```{fence}", _op_sql(op), "```"]
    if step.rollback:
        out += [
            "",
            "Rollback:",
            "",
            f"```{fence}",
            "\n".join(_op_sql(r) for r in step.rollback),
            "```",
        ]
    notes = list(step.monitoring.get("notes") or ())
    if notes:
        out += ["", "Watch: " + " ".join(notes)]
    if step.validation:
        out += [
            "",
            "Validation: " + ", ".join(str(r.get("id", r["type"])) for r in step.validation),
        ]
    return out + [
        "",
        "Rollback triggers: " + "; ".join(t.description for t in step.rollback_triggers),
    ]


def _closing_lines(plan: Plan) -> list[str]:
    """After the steps: the final rules, who to tell, and the linter's findings."""
    out = ["", "## Post-migration validation", ""]
    out += [
        f"- `{r.get('id', r['type'])}`: {r['type']} on {r['table']}"
        + (f" ({', '.join(r['columns'])})" if r.get("columns") else "")
        for r in plan.post_validation
    ]
    out += ["", "## Communication plan", ""]
    out += [f"- **{c.when}** — {c.audience}: {c.message}" for c in plan.communication]
    out += ["", "## Lint", ""]
    if not plan.lint:
        out.append("The generated SQL lints clean.")
    for f in plan.lint:
        state = f"ignored: {f['reason']}" if f.get("ignored") else "OPEN"
        out.append(
            f"- {f['step']} {f['operation']} `{f['rule']}` ({f['severity']}, {state}): "
            f"{f['message']}"
        )
    return out


def _window_lines(window: Any) -> list[str]:
    """The windows the heavy steps assume (present only when [windows] was configured)."""
    allowed = ", ".join(f"`{w}`" for w in window["allowed"])
    return [
        (
            f"Heavy steps run within {allowed} ({window['timezone']}), the windows of "
            "datamigration.toml when this plan was made; the executor refuses them outside a "
            "window unless told to run now."
        ),
        "",
        *(f"- {s['step']}: {s['work']}" for s in window["steps"]),
    ]


def plan_markdown(plan: Plan) -> str:
    """plan.md: the plan in the order a reviewer reads it (the sections are built by the
    helpers above; the text is part of the golden fixtures, so keep it byte-identical)."""
    fence = dialect_class(plan.dialect).code_fence
    out = _header_lines(plan)
    out += ["", "## Phases", "", mermaid(plan), ""]
    out += _estimate_lines(plan)
    if plan.rehearsal:
        out += ["", "## Staging rehearsal", "", *_rehearsal_lines(plan)]
    if plan.window:
        out += ["", "## Maintenance window", "", *_window_lines(plan.window)]
    if plan.warnings:
        out += ["", "## Warnings", ""] + [f"- {w}" for w in plan.warnings]
    out += ["", "## Monitoring", ""]
    out += _monitoring_lines(plan)
    out += ["", "## Pre-migration checklist", ""]
    out += [f"- [{'x' if c.done else ' '}] {c.text}" for c in plan.checklist]
    for p in plan.phases:
        out += ["", f"## {p.title}", "", p.description]
        for s in p.steps:
            out += _step_lines(s, fence)
    out += _closing_lines(plan)
    return "\n".join(out) + "\n"


def write_documents(workspace: Any, plan: Plan, md: str) -> list[str]:
    """docs/migrations/<id>/plan.json and plan.md; returns their paths (plan.json first)."""

    d = docs_plan_dir(workspace, plan.id)
    d.mkdir(parents=True, exist_ok=True)
    pj, pm = d / "plan.json", d / "plan.md"
    pj.write_text(plan_json_text(plan), encoding="utf-8")
    pm.write_text(md, encoding="utf-8")
    return [str(Path(pj)), str(Path(pm))]
