"""The run report from a recorded run log and samples, with no database: what each table and
chart holds, and matplotlib loaded only when a chart is drawn."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from datamigration.safety.report import build_charts, check_rows, step_rows, write_run_report
from datamigration.workspace.root import Workspace

PLAN = "20260101-000000-widen_n"
EVENTS = [
    {"ts": "2026-01-01T00:00:00Z", "event": "execute", "steps": ["s03"]},
    {"ts": "2026-01-01T00:00:00.5Z", "event": "backup_gate", "without_backup": "staging only"},
    {"ts": "2026-01-01T00:00:01Z", "event": "step_started", "step": "s03", "title": "Backfill"},
    {"ts": "2026-01-01T00:00:02Z", "event": "batch", "operation": "s03.1", "rows": 500},
    {"ts": "2026-01-01T00:00:03Z", "event": "batch", "operation": "s03.1", "rows": 1500},
    {"ts": "2026-01-01T00:00:04Z", "event": "rollback_trigger", "step": "s03",
     "trigger": "error_rate", "value": 0.2, "threshold": 0.01, "reason": "error rate 20%"},
    {"ts": "2026-01-01T00:00:05Z", "event": "step_failed", "step": "s03", "error": "stopped"},
]  # fmt: skip


def recorded(root: Path) -> Workspace:
    ws = Workspace.open(str(root))
    runs = ws.state_dir / "runs"
    (runs / PLAN).mkdir(parents=True)
    (runs / f"{PLAN}.jsonl").write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    base = 1767225600.0  # 2026-01-01T00:00:00Z
    samples = [{"step": "s03", "at": base + 1.5 + i, "latency_ms": {"p50": 1.0 + i, "p99": 3.0 + i},
                "throughput_tps": 100.0 * i, "rows_per_s": 400.0 + i} for i in range(3)]  # fmt: skip
    (runs / PLAN / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    return ws


def test_batch_sizes_come_from_the_running_row_totals_and_markers_from_steps_and_firings(
    tmp_path,
):
    ws = recorded(tmp_path)
    from datamigration.execute.state import RunLog

    events, _ = RunLog(ws.state_dir, PLAN).read()
    latency, _tp, _lag, rows = build_charts(events, [], 1767225600.0)
    batch = next(s for s in rows.series if s.name == "batch-size")
    assert [p[1] for p in batch.points] == [500.0, 1000.0]
    assert [p[1] for p in next(s for s in rows.series if s.name == "rows-per-s").points] == [1000.0]
    gids = {m.gid: m.at for m in latency.markers}
    assert gids["marker-step-s03"] == 1.0 and gids["marker-trigger-1"] == 4.0
    assert gids["marker-step_failed-s03"] == 5.0


def test_the_tables_name_the_stopped_step_and_the_backup_override(tmp_path):
    from datamigration.execute.state import RunLog

    events, _ = RunLog(recorded(tmp_path).state_dir, PLAN).read()
    ((step, title, _at, state, _s, detail),) = step_rows(events)
    assert (step, title, state, detail) == ("s03", "Backfill", "failed", "stopped")
    assert check_rows(events)[0][1:] == ["backup", "OVERRIDDEN", "staging only"]


def test_the_report_holds_the_trigger_log_and_four_charts(tmp_path):
    ws = recorded(tmp_path)
    out = write_run_report(ws, PLAN)
    md = (ws.root / out["report"]).read_text()
    assert "| error_rate | 0.2 | 0.01 | error rate 20% |" in md
    assert len(out["charts"]) == 4 and "Rows backfilled: 1,500 in 2 batches" in md
    assert 'id="series-p99"' in (ws.root / out["charts"][0]).read_text()


def test_starting_the_cli_and_the_mcp_server_does_not_load_matplotlib():
    code = ("import sys, datamigration.cli as c, datamigration.mcp.app; c.build_parser(); "
            "print('matplotlib' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
