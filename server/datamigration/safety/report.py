"""Run reports a person would rather look at than a log: markdown with charts, per plan.

`write_run_report` reads what a run left under `.datamigration/runs/`: the event log
(`<plan>.jsonl`: steps, batches, gates, validations, the backup check, trigger firings) and the
watch's samples (`<plan>/samples.jsonl`: probe latency, throughput, lag, rows/s), and writes
`<docs>/runs/<plan>/report.md` beside its SVG charts (`safety/charts.py`): latency p50/p99,
throughput, lag, rows/s with the batch size, each with the steps and trigger firings marked;
then the steps, the trigger log and the checks as tables. The report is linked from the plan's
story in status.json (`run_report`). The executor writes it at the end of every run (done,
failed or stopped by a trigger); `datamigration report PLAN_ID` writes it on demand.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from datamigration.errors import DataMigrationError, NotFoundError
from datamigration.execute.state import RunLog
from datamigration.plan.store import check_id, plans_dir, read_plan_file
from datamigration.redact import redact_text
from datamigration.safety import charts
from datamigration.safety.watch import samples_of
from datamigration.workspace.root import Workspace

REPORTS_DIR = "runs"
#: events kept in a report (a run log of a very long backfill is mostly batches)
MAX_EVENTS = 200_000


def _epoch(ts: Any) -> float | None:
    if isinstance(ts, int | float):
        return float(ts)
    if not isinstance(ts, str):
        return None
    try:
        return dt.datetime.fromisoformat(ts).timestamp()
    except ValueError:
        return None


def _plan(workspace: Workspace, plan_id: str) -> dict[str, Any]:
    try:
        return read_plan_file(plans_dir(workspace) / f"{plan_id}.json")
    except DataMigrationError:
        return {}


def _points(rows: Iterable[tuple[float | None, Any]], t0: float) -> list[tuple[float, float]]:
    return [(round(t - t0, 3), float(v)) for t, v in rows
            if t is not None and isinstance(v, int | float) and not isinstance(v, bool)]  # fmt: skip


def _batch_points(events: list[dict[str, Any]], t0: float) -> tuple[list, list]:
    """(rows/s, batch size) from the backfill's batch events: `rows` is the running total of
    an operation, so a batch's size is the difference (or the `batch_size` the event states)."""
    last: dict[str, tuple[float, int]] = {}
    rate, size = [], []
    for ev in events:
        t = _epoch(ev.get("ts"))
        if ev.get("event") != "batch" or t is None or not isinstance(ev.get("rows"), int):
            continue
        op = str(ev.get("operation"))
        before_t, before_rows = last.get(op, (None, 0))
        done = ev["rows"] - before_rows
        size.append((round(t - t0, 3), float(ev.get("batch_size") or done)))
        if before_t is not None and t > before_t:
            rate.append((round(t - t0, 3), round(done / (t - before_t), 1)))
        last[op] = (t, ev["rows"])
    return rate, size


def _markers(events: list[dict[str, Any]], samples: list[dict[str, Any]], t0: float) -> list:
    out: list[charts.Marker] = []
    for ev in events:
        t, kind, step = _epoch(ev.get("ts")), ev.get("event"), ev.get("step")
        if t is None:
            continue
        if kind == "step_started":
            out.append(charts.Marker(f"marker-step-{step}", t - t0, f"{step} start"))
        elif kind in ("step_done", "step_failed", "rolled_back"):
            # unlabelled: a short step's end would print over its start
            out.append(charts.Marker(f"marker-{kind}-{step}", t - t0, ""))
    for n, f in enumerate(_firings(events, samples)):
        if f["at"] is not None:
            out.append(charts.Marker(f"marker-trigger-{n + 1}", f["at"] - t0,
                                     f"trigger {f['trigger']}", trigger=True))  # fmt: skip
    return out


def _firings(events: list[dict[str, Any]], samples: list[dict[str, Any]]) -> list[dict]:
    """Every trigger that fired: from the run log (what the executor acted on), else the
    watch's own record in the samples."""
    out = []
    for ev in events:
        if ev.get("event") == "rollback_trigger":
            out.append({"at": _epoch(ev.get("ts")), "step": ev.get("step"),
                        "trigger": ev.get("trigger"), "value": ev.get("value"),
                        "threshold": ev.get("threshold"), "reason": ev.get("reason") or
                        ev.get("trigger")})  # fmt: skip
    if not out:
        for s in samples:
            if isinstance(s.get("fired"), dict):
                f = s["fired"]
                out.append({"at": _epoch(s.get("at")), "step": s.get("step"),
                            "trigger": f.get("trigger"), "value": f.get("value"),
                            "threshold": f.get("threshold"), "reason": f.get("reason")})  # fmt: skip
    return out


def _series(samples: list[dict[str, Any]], t0: float, name: str, label: str, get: Any) -> Any:
    return charts.Series(name, label, _points(((_epoch(s.get("at")), get(s)) for s in samples
                                               if "fired" not in s), t0))  # fmt: skip


def build_charts(events: list[dict[str, Any]], samples: list[dict[str, Any]], t0: float) -> list:
    """The report's four charts, each with the steps and firings marked."""
    lat = lambda key: lambda s: (s.get("latency_ms") or {}).get(key)
    app = lambda key: lambda s: (s.get("app") or {}).get(key)
    latency = [_series(samples, t0, "p50", "probe p50 (ms)", lat("p50")),
               _series(samples, t0, "p99", "probe p99 (ms)", lat("p99"))]  # fmt: skip
    if any((s.get("app") or {}).get("latency_p99_ms") is not None for s in samples):
        latency.append(_series(samples, t0, "app-p99", "application p99 (ms)",
                               app("latency_p99_ms")))  # fmt: skip
    rate, size = _batch_points(events, t0)
    sampled_rate = _series(samples, t0, "rows-per-s", "rows/s", lambda s: s.get("rows_per_s"))
    rows = [sampled_rate if sampled_rate.points else charts.Series("rows-per-s", "rows/s", rate),
            charts.Series("batch-size", "batch size (rows)", size, right=True, step=True)]  # fmt: skip
    marks = _markers(events, samples, t0)
    slot = lambda s: (s.get("slot_lag") or {}).get("seconds")
    return [
        charts.Chart(
            "latency", "Application latency (probe queries)", "ms", latency, markers=marks
        ),
        charts.Chart(
            "throughput",
            "Throughput",
            "commits/s",
            [_series(samples, t0, "throughput", "commits/s", lambda s: s.get("throughput_tps"))],
            markers=marks,
        ),
        charts.Chart(
            "lag",
            "Replication lag",
            "seconds",
            [
                _series(
                    samples,
                    t0,
                    "replication-lag",
                    "standby lag (s)",
                    lambda s: s.get("replication_lag_s"),
                ),
                _series(samples, t0, "slot-lag", "slot lag (s)", slot),
            ],
            markers=marks,
        ),
        charts.Chart(
            "rows", "Migration rate", "rows/s", rows, right_label="batch size", markers=marks
        ),
    ]


def _start(events: list[dict[str, Any]], samples: list[dict[str, Any]]) -> float:
    times = [t for t in (_epoch(e.get("ts")) for e in events) if t is not None]
    times += [t for t in (_epoch(s.get("at")) for s in samples) if t is not None]
    return min(times, default=0.0)


def _ts(t: float | None) -> str:
    if t is None:
        return ""
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text.replace("|", "\\|").replace("\n", " ")[:300]


def _table(head: list[str], rows: list[list[Any]], empty: str) -> list[str]:
    if not rows:
        return [f"_{empty}_", ""]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return out + [""]


def step_rows(events: list[dict[str, Any]]) -> list[list[Any]]:
    """One row per step run: step, title, started, status, seconds, detail."""
    rows: dict[str, list[Any]] = {}
    for ev in events:
        step, kind = ev.get("step"), ev.get("event")
        if not isinstance(step, str):
            continue
        if kind == "step_started":
            rows[step] = [step, ev.get("title", ""), ev.get("ts", ""), "running", "", ""]
        row = rows.get(step)
        if row is None:
            continue
        if kind == "step_done":
            row[3], row[4] = "done", ev.get("seconds", "")
        elif kind in ("step_failed", "rollback_failed"):
            row[3], row[5] = "failed", ev.get("error", "")
        elif kind == "rolled_back":
            row[3] = "rolled back"
        elif kind == "rollback_trigger":
            row[3], row[5] = "stopped by a trigger", ev.get("reason") or ev.get("trigger")
    return list(rows.values())


def check_rows(events: list[dict[str, Any]]) -> list[list[Any]]:
    """The checks a run made: gates, validations, the backup check, window overrides, the
    performance check; one row each: when, check, outcome, detail."""
    out = []
    for ev in events:
        kind, ts = ev.get("event"), ev.get("ts", "")
        if kind == "validation":
            out.append([ts, f"validation {ev.get('name')}",
                        "passed" if ev.get("passed") else "FAILED", ev.get("summary", "")])  # fmt: skip
        elif kind == "validation_error":
            out.append([ts, "validation", "could not run", ev.get("error", "")])
        elif kind == "backup_gate":
            backup = ev.get("backup") or {}
            if backup:
                out.append([ts, "backup", "verified backup used",
                            f"{backup.get('id')} (verified {backup.get('verified_at')})"])  # fmt: skip
            elif ev.get("without_backup"):
                out.append([ts, "backup", "OVERRIDDEN", ev["without_backup"]])
        elif kind == "window_override":
            out.append([ts, "maintenance window", "outside, run anyway (--now)", ev.get("work")])
        elif kind == "gate_refused":
            out.append([ts, f"gate before {ev.get('step')}", "REFUSED", ev.get("error")])
        elif kind == "performance_check":
            out.append([ts, "performance check", "passed" if ev.get("passed") else
                        "REGRESSED", ev.get("summary", "")])  # fmt: skip
    return out


def _summary(events: list[dict[str, Any]], samples: list[dict[str, Any]]) -> list[str]:
    times = [t for t in (_epoch(e.get("ts")) for e in events) if t is not None]
    base = next((s for s in samples if s.get("baseline")), None)
    p99s = [(s.get("latency_ms") or {}).get("p99") for s in samples if not s.get("baseline")]
    p99s = [v for v in p99s if isinstance(v, int | float)]
    totals: dict[str, int] = {}
    for ev in events:
        if ev.get("event") == "batch" and isinstance(ev.get("rows"), int):
            totals[str(ev.get("operation"))] = ev["rows"]
    batches = sum(1 for e in events if e.get("event") == "batch")
    lines = [f"- Events: {len(events)} from {_ts(min(times, default=None))} to "
             f"{_ts(max(times, default=None))} UTC" if times else "- Events: none recorded"]  # fmt: skip
    lines.append(f"- Samples: {len(samples)} (one per watch interval during long steps)")
    if base is not None:
        lines.append(f"- Baseline probe p99: {(base.get('latency_ms') or {}).get('p99')} ms")
    if p99s:
        lines.append(f"- Probe p99 during the run: max {max(p99s)} ms")
    if totals:
        lines.append(f"- Rows backfilled: {sum(totals.values()):,} in {batches} batches")
    return lines


def render(plan_id: str, plan: dict[str, Any], events: list[dict[str, Any]],
           samples: list[dict[str, Any]], drawn: list[str], note: str | None) -> str:  # fmt: skip
    """The report's markdown (`drawn`: the chart files written beside it)."""
    lines = [f"# Run report: {plan_id}", ""]
    if plan.get("title"):
        lines.append(f"- Plan: {plan['title']} (hash {str(plan.get('hash', ''))[:12]})")
    if plan.get("story"):
        lines.append(f"- Story: {plan['story']}")
    lines += _summary(events, samples) + [""]
    firings = _firings(events, samples)
    lines += ["## Charts", ""]
    if note:
        lines += [f"_{note}_", ""]
    titles = {"latency": "Latency p50/p99", "throughput": "Throughput", "lag": "Lag",
              "rows": "Rows/s and batch size"}  # fmt: skip
    for name in drawn:
        lines += [f"![{titles.get(Path(name).stem, name)}]({name})", ""]
    lines += [("Dotted grey lines mark steps starting and ending; dashed red lines mark trigger "
              "firings."), "", "## Steps", ""]  # fmt: skip
    lines += _table(["step", "title", "started", "status", "seconds", "detail"],
                    step_rows(events), "no step ran")  # fmt: skip
    lines += ["## Trigger log", ""]
    lines += _table(["at (UTC)", "step", "trigger", "value", "threshold", "reason"],
                    [[_ts(f["at"]), f["step"], f["trigger"], f["value"], f["threshold"],
                      f["reason"]] for f in firings], "no trigger fired")  # fmt: skip
    lines += ["## Checks", ""]
    lines += _table(["at", "check", "outcome", "detail"], check_rows(events),
                    "no gate, validation or backup check recorded")  # fmt: skip
    return redact_text("\n".join(lines))


def report_dir(workspace: Workspace, plan_id: str) -> Path:
    return workspace.docs_dir / REPORTS_DIR / check_id(plan_id)


def write_run_report(workspace: Workspace, plan_id: str, *, link: bool = True) -> dict[str, Any]:
    """Write the run's report and charts; link it from the plan's story (see module docstring)."""
    folder = report_dir(workspace, plan_id)
    log = RunLog(workspace.state_dir, plan_id)
    events, _cut = log.read(limit=MAX_EVENTS)
    samples = samples_of(workspace.state_dir, plan_id, None)
    if not events and not samples:
        raise NotFoundError(
            f"no run of plan {plan_id} is recorded in {workspace.relative(log.path)}",
            hint="Run the plan first (datamigration execute PLAN_ID HASH --yes); "
            "`datamigration run-status` lists the runs recorded here.",
            plan=plan_id,
        )
    plan = _plan(workspace, plan_id)
    note = charts.matplotlib_missing()
    drawn: list[str] = []
    if note is None:
        t0 = _start(events, samples)
        for chart in build_charts(events, samples, t0):
            charts.draw(chart, folder / f"{chart.name}.svg")
            drawn.append(f"{chart.name}.svg")
    folder.mkdir(parents=True, exist_ok=True)
    md = folder / "report.md"
    md.write_text(render(plan_id, plan, events, samples, drawn, note), encoding="utf-8")
    out: dict[str, Any] = {"plan_id": plan_id, "report": workspace.relative(md),
                           "charts": [workspace.relative(folder / n) for n in drawn],
                           "events": len(events), "samples": len(samples),
                           "story": plan.get("story"), "notes": [note] if note else []}  # fmt: skip
    if link and plan.get("story"):
        out["notes"] += link_on_story(workspace, str(plan["story"]), out["report"])
    return out


def link_on_story(workspace: Workspace, story: str, report: str) -> list[str]:
    """`run_report` on the story in status.json; a coordination problem is a note, not an error."""
    from datamigration.coordination import status

    try:
        status.update_story(workspace, story, fields={"run_report": report})
    except DataMigrationError as exc:
        return [f"status.json: {exc.message}"]
    return []
