"""Run reports on real PostgreSQL: a real backfill under application load, sampled by the watch,
leaves a markdown report with SVG charts whose series and markers are really there, linked from
the story; a trigger that stops the run is on the charts and in the trigger log."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Self

import pytest

from datamigration.cli import main
from datamigration.coordination import status
from datamigration.execute import service
from datamigration.execute.runner import RunOptions
from datamigration.safety.watch import request_stop
from integration.test_safety_triggers_pg import BATCH, FAST, STORY, App, prepare, run_until_fired

pytestmark = pytest.mark.integration

SVG = "{http://www.w3.org/2000/svg}"


def ids_of(svg: Path) -> set[str]:
    """Every element id of an SVG file (it must parse as XML)."""
    root = ET.parse(svg).getroot()
    return {el.get("id") for el in root.iter() if el.get("id")}


def texts_of(svg: Path) -> str:
    return " ".join(el.text or "" for el in ET.parse(svg).getroot().iter(f"{SVG}text"))


def polyline_points(svg: Path, gid: str) -> int:
    """How many points the series `gid` draws (its path's vertices)."""
    root = ET.parse(svg).getroot()
    group = next(el for el in root.iter() if el.get("id") == gid)
    path = next(group.iter(f"{SVG}path"))
    return len(re.findall(r"[ML]\s*-?[\d.]+\s+-?[\d.]+", path.get("d", "")))


def test_a_stopped_backfill_leaves_a_report_with_its_series_the_firing_and_a_story_link(
    pg_url, workspace_dir
):
    s = prepare(pg_url, workspace_dir)
    exc = run_until_fired(s, {}, 40, lambda: request_stop(s.ws.state_dir, s.plan.id, "on call"))
    rel = exc.data["run_report"]
    assert rel == f"docs/runs/{s.plan.id}/report.md"
    md = (s.ws.root / rel).read_text()
    folder = (s.ws.root / rel).parent
    assert status.get_story(s.ws, STORY)["run_report"] == rel
    for name in ("latency", "throughput", "lag", "rows"):
        assert f"]({name}.svg)" in md
        assert (folder / f"{name}.svg").is_file()
    latency = ids_of(folder / "latency.svg")
    assert {"series-p50", "series-p99", f"marker-step-{s.step.id}", "marker-trigger-1"} <= latency
    assert polyline_points(folder / "latency.svg", "series-p99") >= 2  # sampled while it ran
    assert "trigger manual_stop" in texts_of(folder / "latency.svg")
    rows = ids_of(folder / "rows.svg")
    assert {"series-rows-per-s", "series-batch-size", "marker-trigger-1"} <= rows
    assert polyline_points(folder / "rows.svg", "series-batch-size") >= 40
    assert "## Trigger log" in md and "| manual_stop |" in md and "on call" in md
    assert f"| {s.step.id} |" in md and "stopped by a trigger" in md
    assert f"{40 * BATCH:,} in 40 batches" in md


def test_a_finished_run_reports_its_checks_and_the_cli_writes_it_again(pg_url, workspace_dir):
    s = prepare(pg_url, workspace_dir)
    app = App(s.url)
    app.start()
    try:
        options = RunOptions(batch_size=BATCH * 20, batch_pause_ms=5, safety=FAST,
                             finish_story=False)  # fmt: skip
        out = service.prepare(s.ws, s.plan.id, s.plan.hash, db=s.url, step=s.step.id,
                              options=options).run()  # fmt: skip
    finally:
        app.finish()
    (note,) = [n for n in out["notes"] if n.startswith("run report: ")]
    report = s.ws.root / note.removeprefix("run report: ")
    md = report.read_text()
    assert "_no trigger fired_" in md
    assert re.search(rf"\| {s.step.id} \| [^|]+ \| [^|]+ \| done \|", md)
    assert "| validation " in md and "| passed |" in md
    assert "Rows backfilled: 40,000" in md
    report.unlink()
    (report.parent / "rows.svg").unlink()
    assert main(["--workspace", str(s.ws.root), "report", s.plan.id]) == 0
    assert report.is_file() and "series-batch-size" in (report.parent / "rows.svg").read_text()


def test_report_of_a_plan_that_never_ran_says_how_to_run_it(workspace_dir, capsys):
    assert main(["--workspace", str(workspace_dir), "report", "20260101-000000-nothing"]) != 0
    err = capsys.readouterr().err
    assert "no run of plan 20260101-000000-nothing" in err and "datamigration execute" in err


class Hook:
    """A local webhook receiver (a real HTTP server on a free port) that keeps what it got."""

    def __init__(self, status_code: int = 200) -> None:
        import http.server
        import threading

        got: list[tuple[str, dict]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                got.append((self.path, json.loads(body)))
                self.send_response(status_code)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.got = got
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def configure_hook(root: Path, port: int) -> None:
    (root / "datamigration.toml").write_text(
        f'[alerts]\nwebhook = "http://127.0.0.1:{port}/hook/${{DM_TEST_HOOK_TOKEN}}"\n'
    )


def test_a_trigger_firing_reaches_the_webhook_as_slack_json(pg_url, workspace_dir, monkeypatch):
    monkeypatch.setenv("DM_TEST_HOOK_TOKEN", "t0ken")
    with Hook() as hook:
        configure_hook(workspace_dir, hook.port)
        s = prepare(pg_url, workspace_dir)
        run_until_fired(s, {}, 3, lambda: request_stop(s.ws.state_dir, s.plan.id, "pager"))
    fired = [(path, body) for path, body in hook.got if "manual_stop" in body["text"]]
    assert fired, hook.got
    path, body = fired[0]
    assert path == "/hook/t0ken" and set(body) == {"text"}
    assert f"Migration {s.plan.id}: rollback trigger manual_stop fired" in body["text"]
    assert "pager" in body["text"]


def test_a_backup_refusal_warns_on_the_bus_and_on_the_webhook(pg_url, workspace_dir, monkeypatch):
    from datamigration.coordination import bus
    from datamigration.safety.backup.gate import BackupRequiredError

    monkeypatch.setenv("DATAMIGRATION_BACKUP_REQUIRED", "true")
    monkeypatch.setenv("DM_TEST_HOOK_TOKEN", "t0ken")
    with Hook() as hook:
        configure_hook(workspace_dir, hook.port)
        s = prepare(pg_url, workspace_dir)
        last = s.plan.steps[-1]  # drops users.n_old: it can lose data
        with pytest.raises(BackupRequiredError):
            service.prepare(s.ws, s.plan.id, s.plan.hash, db=pg_url, all_steps=True)
    (warning,) = [m for m in bus.read(s.ws, type="warning").messages
                  if "refused by its gate" in (m.text or "")]  # fmt: skip
    assert last.id in warning.text and "no verified backup" in warning.text
    assert [b["text"] for _p, b in hook.got] == [warning.text]


def test_heavy_work_refused_outside_the_window_is_an_alert_and_in_the_report(
    sqlite_url, workspace_dir, monkeypatch
):
    import sqlite3

    from datamigration.coordination import bus
    from datamigration.execute.watching import OutsideWindowError
    from datamigration.plan.planner import plan_migration
    from datamigration.plan.spec import parse_spec
    from datamigration.safety.report import write_run_report
    from datamigration.workspace.root import Workspace
    from integration.test_safety_monitor import _closed_window_config

    monkeypatch.setenv("DM_TEST_HOOK_TOKEN", "t0ken")
    with Hook() as hook:
        _closed_window_config(workspace_dir)
        with (workspace_dir / "datamigration.toml").open("a") as fh:
            fh.write(
                f'[alerts]\nwebhook = "http://127.0.0.1:{hook.port}/h/${{DM_TEST_HOOK_TOKEN}}"\n'
            )
        with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as c:
            c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, n INTEGER)")
            c.executemany("INSERT INTO users (n) VALUES (?)", [(None,)] * 20)
        ws = Workspace.open(str(workspace_dir))
        spec = {"kind": "backfill", "table": "users", "set": {"n": "0"}, "where": "n IS NULL"}
        plan = plan_migration(ws, parse_spec(spec), sqlite_url).plan
        with pytest.raises(OutsideWindowError) as err:
            service.prepare(ws, plan.id, plan.hash, db=sqlite_url, all_steps=True).run()
    (warning,) = [m.text for m in bus.read(ws, type="warning").messages]
    assert "refused by its gate" in warning and "outside every maintenance window" in warning
    assert [b["text"] for _p, b in hook.got] == [warning]
    md = (ws.root / err.value.data["run_report"]).read_text()
    assert "REFUSED" in md and "maintenance window" in md
    assert write_run_report(ws, plan.id)["report"] == err.value.data["run_report"]
