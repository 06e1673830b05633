"""The monitor, the health check and the maintenance windows against real databases, and the
bad input they must refuse clearly: an unreachable database, a Prometheus endpoint that answers
garbage (served by a local http.server thread), a window definition that does not parse."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from datamigration.errors import DataMigrationError, UserInputError
from datamigration.execute import service
from datamigration.execute.runner import RunOptions
from datamigration.execute.watching import OutsideWindowError
from datamigration.plan.planner import plan_migration
from datamigration.plan.spec import parse_spec
from datamigration.safety.health import health_check
from datamigration.safety.monitor import monitor
from datamigration.safety.prometheus import PrometheusError
from datamigration.safety.windows import DAYS
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration

METRICS = """# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200"} %(ok)d
http_requests_total{code="500"} %(bad)d
# HELP http_request_duration_seconds Latency.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.01"} %(fast)d
http_request_duration_seconds_bucket{le="0.1"} %(total)d
http_request_duration_seconds_bucket{le="+Inf"} %(total)d
http_request_duration_seconds_sum 1.0
http_request_duration_seconds_count %(total)d
"""


class Endpoint:
    """A local metrics endpoint: each scrape adds 100 requests, `bad` of them 500s."""

    def __init__(self) -> None:
        self.body: str | None = None
        self.scrapes, self.bad = 0, 5
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.scrapes += 1
                n = owner.scrapes * 100
                text = owner.body if owner.body is not None else METRICS % {
                    "ok": n - owner.scrapes * owner.bad, "bad": owner.scrapes * owner.bad,
                    "fast": n // 2, "total": n}  # fmt: skip
                data = text.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    e = Endpoint()
    yield e
    e.close()


def samples_file(ws: Workspace, run: str) -> Path:
    return ws.state_dir / "runs" / run / "samples.jsonl"


def test_monitor_stores_a_baseline_and_samples_and_run_status_shows_them(
    pg_url, workspace_dir, endpoint
):
    ws = Workspace.open(str(workspace_dir))
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("CREATE TABLE t (id int PRIMARY KEY)")
    out = monitor(ws, pg_url, seconds=1.0, interval=0.25, queries=["SELECT count(*) FROM t"],
                  prometheus=endpoint.url, run="watch-1")  # fmt: skip
    lines = samples_file(ws, "watch-1").read_text().splitlines()
    assert out["samples"] == len(lines) >= 4
    assert json.loads(lines[0])["baseline"] is True
    latest = out["latest"]
    assert latest["latency_ms"]["p99"] > 0 and latest["max_connections"] > 0
    assert latest["error_rate"] is not None and latest["throughput_tps"] is not None
    assert latest["app"]["requests_per_s"] > 0
    assert latest["app"]["error_rate"] == pytest.approx(0.05)
    assert 0 < latest["app"]["latency_p99_ms"] <= 100
    assert out["summary"]["probes"] >= 10
    status = service.run_status(ws, "watch-1")
    assert status["samples"] and status["samples"][-1]["p99_ms"] > 0


def test_an_unreachable_database_is_refused_with_a_hint_and_nothing_is_stored(workspace_dir):
    ws = Workspace.open(str(workspace_dir))
    with pytest.raises(DataMigrationError) as err:
        monitor(ws, "postgresql://postgres@127.0.0.1:1/postgres", seconds=1, run="nowhere")
    assert err.value.hint
    assert not samples_file(ws, "nowhere").parent.exists()


@pytest.mark.parametrize("garbage", ["<html><body>metrics</body></html>", "hello world", ""])
def test_a_prometheus_endpoint_answering_garbage_is_refused_before_sampling(
    pg_url, workspace_dir, endpoint, garbage
):
    ws = Workspace.open(str(workspace_dir))
    endpoint.body = garbage
    with pytest.raises(PrometheusError) as err:
        monitor(ws, pg_url, seconds=1, prometheus=endpoint.url, run="garbage")
    assert endpoint.url in err.value.message and "Prometheus" in (err.value.hint or "")
    assert not samples_file(ws, "garbage").exists()


def test_an_unreachable_prometheus_endpoint_is_refused_with_a_hint(pg_url, workspace_dir):
    ws = Workspace.open(str(workspace_dir))
    with pytest.raises(PrometheusError) as err:
        monitor(ws, pg_url, seconds=1, prometheus="http://127.0.0.1:1/metrics")
    assert "cannot be read" in err.value.message and err.value.hint


def test_health_says_safe_on_a_quiet_database_and_names_an_abandoned_slot(
    pg_logical_url, workspace_dir
):
    # a busy test machine makes single slow probes: judge latency only past half a second
    (workspace_dir / "datamigration.toml").write_text("[safety]\nlatency_floor_ms = 500\n")
    ws = Workspace.open(str(workspace_dir))
    unknown = health_check(ws, pg_logical_url)
    (latency,) = [c for c in unknown["checks"] if c["check"] == "latency"]
    assert latency["ok"] is None and "run monitor" in latency["detail"]
    monitor(ws, pg_logical_url, seconds=0.3, interval=0.1, run="normal-hour")
    quiet = health_check(ws, pg_logical_url)
    assert quiet["safe"], quiet["reasons"]
    (latency,) = [c for c in quiet["checks"] if c["check"] == "latency"]
    assert latency["ok"] and "baseline of run normal-hour" in latency["detail"]
    with psycopg.connect(pg_logical_url, autocommit=True) as c:
        c.execute("SELECT pg_create_logical_replication_slot('dm_left_behind', 'test_decoding')")
    try:
        out = health_check(ws, pg_logical_url)
    finally:
        with psycopg.connect(pg_logical_url, autocommit=True) as c:
            c.execute("SELECT pg_drop_replication_slot('dm_left_behind')")
    assert not out["safe"]
    (reason,) = out["reasons"]
    assert reason.startswith("replication_slots:") and "dm_left_behind" in reason


def _closed_window_config(ws_dir: Path) -> str:
    """A window two days from now: closed today whatever the hour."""
    day = DAYS[(dt.datetime.now(dt.UTC).weekday() + 2) % 7].title()
    (ws_dir / "datamigration.toml").write_text(f'[windows]\nallowed = ["{day} 01:00-02:00"]\n')
    return day


def test_heavy_work_is_refused_outside_the_window_and_runs_with_now(sqlite_url, workspace_dir):
    import sqlite3

    day = _closed_window_config(workspace_dir)
    db = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, n INTEGER)")
        c.executemany("INSERT INTO users (n) VALUES (?)", [(None,)] * 50)
    ws = Workspace.open(str(workspace_dir))
    spec = {"kind": "backfill", "table": "users", "set": {"n": "0"}, "where": "n IS NULL"}
    plan = plan_migration(ws, parse_spec(spec), sqlite_url).plan
    with pytest.raises(OutsideWindowError) as err:
        service.prepare(ws, plan.id, plan.hash, db=sqlite_url, all_steps=True).run()
    assert f"({day} 01:00-02:00)" in err.value.message and "now=true" in (err.value.hint or "")
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT count(*) FROM users WHERE n IS NULL").fetchone()[0] == 50
    health = health_check(ws, sqlite_url)
    assert not health["safe"] and any(r.startswith("window:") for r in health["reasons"])
    assert health_check(ws, sqlite_url, heavy=False)["safe"]
    options = RunOptions(now=True, finish_story=False)
    service.prepare(ws, plan.id, plan.hash, db=sqlite_url, all_steps=True, options=options).run()
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT count(*) FROM users WHERE n IS NULL").fetchone()[0] == 0


@pytest.mark.parametrize(
    "allowed",
    ['["Someday 01:00-02:00"]', '["Mon 25:00-26:00"]', '["Mon"]', '"Mon 01:00-02:00"'],
)
def test_a_window_definition_that_does_not_parse_is_a_clear_error(
    sqlite_url, workspace_dir, allowed
):
    (workspace_dir / "datamigration.toml").write_text(f"[windows]\nallowed = {allowed}\n")
    ws = Workspace.open(str(workspace_dir))
    with pytest.raises(UserInputError) as err:
        health_check(ws, sqlite_url)
    assert "[windows]" in err.value.message and "Mon-Fri 22:00-06:00" in (err.value.hint or "")


def test_each_database_reports_what_it_can_and_names_what_it_cannot(
    mysql_url, sqlite_url, mongo_url, workspace_dir
):
    ws = Workspace.open(str(workspace_dir))
    mysql = monitor(ws, mysql_url, seconds=0.5, interval=0.25, run="mysql")
    assert mysql["latest"]["max_connections"] > 0 and mysql["latest"]["error_rate"] is not None
    lite = monitor(ws, sqlite_url, seconds=0.5, interval=0.25, run="sqlite")
    assert lite["latest"]["latency_ms"]["p99"] > 0
    assert {"error_rate", "connections"} <= set(lite["unavailable"])
    assert "error_rate" not in lite["latest"] or lite["latest"]["error_rate"] is None
    mongo = monitor(ws, mongo_url, seconds=0.5, interval=0.25, run="mongo")
    assert mongo["latest"]["latency_ms"]["p99"] > 0
    assert "replication" not in mongo["unavailable"]  # no standbys reported, not an error
