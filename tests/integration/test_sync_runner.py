"""The sync runner end to end on real databases: Debezium events from a file (`--events`)
applied until caught up, the detached daemon killed with SIGKILL mid-stream and restarted
(nothing lost, nothing doubled), and the refusals: a line that is not an event, a mapping
changed under the same run name, a run name of the wrong shape."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pymongo
import pytest

from datamigration.db import connect
from datamigration.db.change_events import ChangeEvent, to_debezium
from datamigration.errors import UserInputError
from datamigration.move.sync.control import RunFiles, spawn, stop_sync, sync_status
from datamigration.move.sync.request import SyncRefusedError, SyncRequest
from datamigration.move.sync.runner import start_sync
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).parents[1] / "fixtures" / "debezium" / "postgres_users_orders.jsonl"
USERS = {1: ("alice@x.io", "Alice A"), 2: ("b@x.io", "bob"), 5: ("d@x.io", "dan")}
DDL = [
    (
        "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, name text, "
        "created_at timestamptz NOT NULL)"
    ),
    (
        "CREATE TABLE orders (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users(id), "
        "total float8, status text)"
    ),
    "CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL, n int NOT NULL)",
]


@pytest.fixture
def target(pg_url: str) -> str:
    with connect(pg_url) as b:
        b.execute(DDL)
    return pg_url


def rows(url: str, sql: str) -> list[tuple]:
    with connect(url) as b:
        return sorted(tuple(r) for r in b.fetch(sql))


def state(url: str, run: str) -> dict | None:
    with connect(url) as b:
        store = b.sync_state_table("_datamigration_sync")
        store.ensure()
        return store.get(run)


def request(target: str, ws: Path, events: Path, **kw) -> SyncRequest:
    kw.setdefault("tables", ("users", "orders"))
    return SyncRequest("postgresql://unused/none", target, workspace=str(ws),
                       events_file=str(events), **kw)  # fmt: skip


def test_events_from_a_file_are_applied_until_caught_up_and_status_reports_them(
    target: str, workspace_dir: Path
) -> None:
    seen = []
    final = start_sync(request(target, workspace_dir, FIXTURE, run="from_file"),
                       progress=lambda e, d: seen.append(e), stop_when=lambda s: s["idle"])  # fmt: skip
    assert final["applied"] == 13 and final["status"] == "stopped"
    assert {r[0]: r[1:] for r in rows(target, "SELECT id, email, name FROM users")} == USERS
    assert rows(target, "SELECT id FROM orders") == [(10,), (13,)]
    assert "start" in seen and "batch" in seen
    status = sync_status(Workspace.open(workspace_dir), "from_file")["runs"][0]
    assert status["state"]["status"] == "stopped" and status["state"]["applied"] == 13
    assert status["alive"] is False and status["state"]["figures"]["lag"]["events"] == 0
    again = start_sync(request(target, workspace_dir, FIXTURE, run="from_file"),
                       stop_when=lambda s: s["idle"])  # fmt: skip
    assert again["applied"] == 13  # a restart finds nothing new: nothing applied twice


def test_a_line_that_is_not_an_event_stops_the_sync_before_anything_is_applied(
    target: str, workspace_dir: Path
) -> None:
    bad = workspace_dir / "events.jsonl"
    lines = FIXTURE.read_text().splitlines()
    bad.write_text("\n".join([*lines[:5], '{"hello": "world"}', *lines[5:]]) + "\n")
    with pytest.raises(UserInputError, match="not a Debezium change event"):
        start_sync(request(target, workspace_dir, bad, run="bad_line"), stop_when=lambda s: True)
    assert rows(target, "SELECT id FROM users") == []
    assert state(target, "bad_line")["status"] == "failed"
    assert state(target, "bad_line")["applied"] == 0


def test_a_run_name_of_the_wrong_shape_is_refused_before_the_target_is_touched(
    target: str, workspace_dir: Path
) -> None:
    for name in ("Users", "a-b", "x" * 41, "", "a;drop", "ü"):
        with pytest.raises(UserInputError, match="run name"):
            request(target, workspace_dir, FIXTURE, run=name)
    with connect(target) as b:
        assert b.inspect(tables=None).table("_datamigration_sync") is None
    assert not (workspace_dir / ".datamigration" / "sync").exists()


MAPPING = {"version": 1, "collections": [{"collection": "customers", "root": "users",
           "embed": [{"table": "orders", "kind": "array", "keep_foreign_key": True}]}]}  # fmt: skip


def test_a_mapping_changed_under_the_same_run_name_is_refused(
    pg_url: str, mongo_url: str, workspace_dir: Path
) -> None:
    with connect(pg_url) as b:
        b.execute(DDL[:2])
    first = SyncRequest(pg_url, mongo_url, ("users", "orders"), mapping=MAPPING, run="mapped",
                        workspace=str(workspace_dir), events_file=str(FIXTURE))  # fmt: skip
    start_sync(first, stop_when=lambda s: s["idle"])
    base, db = mongo_url.rsplit("/", 1)
    with pymongo.MongoClient(base) as client:
        docs = {d["_id"]: d for d in client[db]["customers"].find()}
    assert sorted(docs) == [1, 2, 5] and [o["id"] for o in docs[2]["orders"]] == [13]
    changed = json.loads(json.dumps(MAPPING))
    changed["collections"][0]["embed"][0]["as"] = "purchases"
    with pytest.raises(SyncRefusedError, match="another mapping"):
        start_sync(first.with_(mapping=changed), stop_when=lambda s: True)


def _stream(path: Path, count: int) -> dict[int, tuple]:
    """`count` inserts, then an update of each, then deletes of every third: the events and
    the rows they leave."""
    expected: dict[int, tuple] = {}
    pos = 0
    with path.open("w") as fh:
        for phase in ("c", "u", "d"):
            for i in range(1, count + 1):
                if phase == "d" and i % 3:
                    continue
                pos += 1
                row = {"id": i, "label": f"{phase}{i}", "n": pos}
                event = ChangeEvent(phase, "items", {"id": i}, None,
                                    None if phase == "d" else row, (pos, 0))  # fmt: skip
                fh.write(json.dumps(to_debezium(event)) + "\n")
                if phase == "d":
                    expected.pop(i)
                else:
                    expected[i] = (row["label"], row["n"])
    return expected


def _wait(check, deadline_s: float = 60.0):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met before the deadline")


def test_a_detached_sync_killed_mid_stream_resumes_without_loss_or_duplicates(
    target: str, workspace_dir: Path
) -> None:
    events = workspace_dir / "stream.jsonl"
    expected = _stream(events, 1500)
    total = 1500 * 2 + 500
    req = request(target, workspace_dir, events, tables=("items",), run="killed", batch_size=5)
    ws = Workspace.open(workspace_dir)
    first = spawn(req, ws)
    assert "password" not in " ".join(json.dumps(first))
    _wait(lambda: (state(target, "killed") or {}).get("applied", 0) >= 300)
    os.kill(first["pid"], signal.SIGKILL)
    os.waitpid(first["pid"], 0)
    cut = state(target, "killed")["applied"]
    assert 300 <= cut < total
    assert not RunFiles(ws, "killed").alive()
    second = spawn(req, ws)
    done = _wait(lambda: (s := state(target, "killed")) and s["applied"] == total and s)
    stopped = stop_sync(ws, "killed")
    os.waitpid(second["pid"], 0)
    assert stopped["stopped"] and done["position"] == (total, 0)
    assert rows(target, "SELECT id, label, n FROM items") == sorted(
        (k, *v) for k, v in expected.items()
    )
    assert state(target, "killed")["applied"] == total  # each event counted once
    assert state(target, "killed")["status"] == "stopped"


def test_the_cli_runs_a_detached_sync_from_events_reports_it_and_stops_it(
    target: str, workspace_dir: Path, capsys
) -> None:
    from datamigration.cli import main

    (workspace_dir / "events.jsonl").write_text(FIXTURE.read_text())
    base = ["--workspace", str(workspace_dir), "sync"]
    start = [*base, "start", "app_source", target, "--tables", "users,orders",
             "--events", "events.jsonl", "--run", "cli_run", "--detach"]  # fmt: skip
    assert main(start) == 3  # confirmation needed: nothing started
    assert not (workspace_dir / ".datamigration" / "sync" / "cli_run" / "pid").exists()
    assert main([*start, "--yes", "--json"]) == 0
    spec = (workspace_dir / ".datamigration" / "sync" / "cli_run" / "request.json").read_text()
    assert "app_source" in spec and "password" not in spec
    _wait(lambda: (state(target, "cli_run") or {}).get("applied") == 13)
    capsys.readouterr()
    assert main([*base, "status", "cli_run", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)["runs"][0]
    assert status["alive"] and status["state"]["status"] == "running"
    assert main([*base, "stop", "cli_run", "--yes"]) == 0
    assert "cli_run stopped" in capsys.readouterr().out
    assert state(target, "cli_run")["status"] == "stopped"
    assert {r[0]: r[1:] for r in rows(target, "SELECT id, email, name FROM users")} == USERS


def test_a_detached_sync_refuses_a_password_written_in_the_url(
    target: str, workspace_dir: Path
) -> None:
    from datamigration.cli import main

    (workspace_dir / "events.jsonl").write_text(FIXTURE.read_text())
    with_password = target.replace("postgres@", "postgres:s3cret@")
    argv = ["--workspace", str(workspace_dir), "sync", "start", "src", with_password,
            "--tables", "users", "--events", "events.jsonl", "--run", "secret", "--detach",
            "--yes"]  # fmt: skip
    assert main(argv) == 2
    assert not list(workspace_dir.rglob("request.json"))
    assert not list(workspace_dir.rglob("pid"))


def test_status_of_every_run_reports_an_unreachable_target_beside_the_others(
    target: str, workspace_dir: Path
) -> None:
    start_sync(request(target, workspace_dir, FIXTURE, run="reachable"), stop_when=lambda s: True)
    ws = Workspace.open(workspace_dir)
    gone = SyncRequest("src", "postgresql://postgres@127.0.0.1:1/none", ("users",), run="gone",
                       workspace=str(workspace_dir), events_file=str(FIXTURE))  # fmt: skip
    assert RunFiles(ws, "gone").write_spec(gone)
    runs = {r["run"]: r for r in sync_status(ws)["runs"]}
    assert runs["reachable"]["state"]["status"] == "stopped"
    assert "error" in runs["gone"] and runs["gone"]["hint"]
