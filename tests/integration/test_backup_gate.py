"""Never migrate without a backup, enforced: the executor refuses a step that can lose data
without a verified, recent backup covering its tables (nothing runs), proceeds with one, and
records an explicit, confirmed override on the story and the bus.

These tests turn the check on (the suite's conftest turns it off for the execution tests).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from datamigration.coordination import status
from datamigration.db import connect
from datamigration.execute import service
from datamigration.execute.runner import RunOptions
from datamigration.plan.planner import plan_migration
from datamigration.plan.spec import parse_spec
from datamigration.safety.backup.gate import BackupRequiredError
from datamigration.safety.backup.manifest import backups_dir, read_manifest, write_manifest
from datamigration.safety.backup.take import take_backup, verify_backup
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration

STORY = "US-0142"
DROP = {"kind": "drop_column", "table": "users", "column": "bio", "story": STORY}


@pytest.fixture(autouse=True)
def backup_required(monkeypatch) -> None:
    monkeypatch.setenv("DATAMIGRATION_BACKUP_REQUIRED", "true")


@pytest.fixture(params=["sqlite", "pg", "mysql"])
def url(request, workspace_dir: Path) -> str:
    u = request.getfixturevalue(f"{request.param}_url")
    with connect(u, Workspace.open(workspace_dir)) as b:
        b.execute([
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(20), bio VARCHAR(40))",
            "CREATE TABLE teams (id INTEGER PRIMARY KEY, name VARCHAR(20))",
            "INSERT INTO users VALUES (1, 'ann', 'likes tea'), (2, 'bob', NULL), (3, 'cy', 'x')",
            "INSERT INTO teams VALUES (1, 'red')",
        ])  # fmt: skip
    return u


@pytest.fixture
def ws(workspace_dir: Path) -> Workspace:
    w = Workspace.open(workspace_dir)
    status.new_story(w, STORY, "Drop users.bio", status="in-progress")
    return w


def plan_for(ws: Workspace, url: str):
    plan = plan_migration(ws, parse_spec(DROP), url, story=STORY).plan
    risky = [s for s in plan.steps if s.destructive or not s.reversible]
    assert [s.phase for s in risky] == ["contract"]
    return plan, risky[0]


def execute(ws, plan, url, **kw):
    prepared = service.prepare(ws, plan.id, plan.hash, db=url, all_steps=True,
                               options=RunOptions(without_backup=kw.pop("without_backup", None)),
                               **kw)  # fmt: skip
    return prepared.action(), prepared.run()


def columns(ws, url) -> list[str]:
    with connect(url, ws) as b:
        return [c.name for c in b.inspect(tables=["users"]).tables[0].columns]


def test_a_destructive_step_without_a_backup_is_refused_before_anything_runs(ws, url):
    plan, contract = plan_for(ws, url)
    with pytest.raises(BackupRequiredError) as caught:
        execute(ws, plan, url)
    err = caught.value
    assert contract.id in err.message and "no verified backup" in err.message
    assert "datamigration backup" in err.hint and "--tables users" in err.hint
    assert "--without-backup" in err.hint
    assert "bio" in columns(ws, url)
    assert service.run_status(ws, plan.id, db=url)["summary"].startswith("0/")


def test_with_a_verified_backup_of_its_tables_the_step_runs_and_says_which_backup(ws, url):
    plan, contract = plan_for(ws, url)
    taken = take_backup(ws, url, ["users"])
    assert taken["verified"]
    _action, out = execute(ws, plan, url)
    assert out["backup"]["backup"]["id"] == taken["id"]
    assert out["backup"]["steps"] == [contract.id]
    assert out["backup"]["checklist"] == {"rehearsal_recorded": False,
                                          "rollback_rehearsed": False}  # fmt: skip
    assert "bio" not in columns(ws, url)
    recorded = status.get_story(ws, STORY)["backup"]
    assert recorded["id"] == taken["id"] and recorded["steps"] == [contract.id]


def test_a_backup_that_is_unverified_stale_or_of_other_tables_does_not_count(ws, url):
    plan, _ = plan_for(ws, url)
    other = take_backup(ws, url, ["teams"])
    stale = take_backup(ws, url, ["users"])
    folder = backups_dir(ws) / stale["id"]
    m = read_manifest(folder)
    m["created_at"] = (dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    write_manifest(folder, m)
    broken = take_backup(ws, url, ["users"])
    dump = backups_dir(ws) / broken["id"] / broken["files"][0]["name"]
    dump.write_bytes(dump.read_bytes()[:-100] + b"x" * 100)
    assert not verify_backup(ws, broken["id"], url)["verified"]
    with pytest.raises(BackupRequiredError) as caught:
        execute(ws, plan, url)
    message = caught.value.message
    assert f"{other['id']} does not cover users" in message
    assert f"{stale['id']} is 72.0 h old" in message
    assert f"{broken['id']} is not verified" in message
    assert "bio" in columns(ws, url)


def test_an_override_is_confirmed_recorded_on_the_story_and_posted_as_a_warning(ws, url):
    plan, contract = plan_for(ws, url)
    reason = "the nightly snapshot of 02:00 covers users; restore tested by ops"
    action, out = execute(ws, plan, url, without_backup=reason)
    assert action.payload["without_backup"] == reason  # the user confirms the override itself
    assert "WITHOUT A VERIFIED BACKUP" in action.summary
    assert out["backup"]["without_backup"] == reason and out["backup"]["backup"] is None
    assert "bio" not in columns(ws, url)
    story = status.get_story(ws, STORY)
    assert story["backup_override"]["reason"] == reason
    assert story["backup_override"]["steps"] == [contract.id]
    bus = ws.root / "docs" / "09-agents" / "bus" / "log.jsonl"
    bus = bus if bus.is_file() else next(ws.root.rglob("log.jsonl"))
    warnings = [json.loads(line) for line in bus.read_text().splitlines()
                if json.loads(line)["type"] == "warning"]  # fmt: skip
    assert any("WITHOUT a verified backup" in w["text"] and reason in w["text"]
               and w.get("story") == STORY for w in warnings)  # fmt: skip


def test_an_override_needs_a_reason(ws, url):
    plan, _ = plan_for(ws, url)
    with pytest.raises(Exception, match="without a reason"):
        execute(ws, plan, url, without_backup="   ")
    assert "bio" in columns(ws, url)


def test_a_config_can_require_the_rehearsal_too(ws, url):
    (ws.root / "datamigration.toml").write_text("[backup]\nrequire_rehearsal = true\n")
    ws2 = Workspace.open(ws.root)
    plan, _ = plan_for(ws2, url)
    take_backup(ws2, url, ["users"])
    with pytest.raises(BackupRequiredError) as caught:
        execute(ws2, plan, url)
    assert "rehearsal" in caught.value.message and "datamigration rehearse" in caught.value.hint
    assert "bio" in columns(ws2, url)


def cli(capsys, ws: Workspace, *args: str) -> tuple[int, str, str]:
    from datamigration.cli import main

    code = main(["--workspace", str(ws.root), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_cli_refuses_then_backs_up_lists_and_runs(ws, sqlite_url, capsys):
    url = sqlite_url
    with connect(url, ws) as b:
        b.execute(["CREATE TABLE users (id INTEGER PRIMARY KEY, bio TEXT)",
                   "INSERT INTO users VALUES (1, 'a'), (2, 'b')"])  # fmt: skip
    plan, _ = plan_for(ws, url)
    run = ["execute", plan.id, "--hash", plan.hash, "--db", url, "--all", "--yes"]
    code, _out, err = cli(capsys, ws, *run)
    assert code == 4, err
    assert "datamigration backup" in err and "bio" in columns(ws, url)
    code, out, err = cli(capsys, ws, "backup", url, "--tables", "users", "--json")
    assert code == 0, err
    backup_id = json.loads(out)["id"]
    code, out, _err = cli(capsys, ws, "backups")
    assert backup_id in out and "verified" in out
    code, out, err = cli(capsys, ws, *run)
    assert code == 0, err
    assert f"backup: {backup_id}" in out
    assert "bio" not in columns(ws, url)


def test_on_mongodb_the_contract_needs_a_backup_of_its_collection_too(workspace_dir, mongo_url):
    import pymongo

    client = pymongo.MongoClient(mongo_url.rsplit("/", 1)[0], serverSelectionTimeoutMS=5000)
    db = client[mongo_url.rsplit("/", 1)[1]]
    db.users.insert_many([{"name": f"u{i}", "bio": f"b{i}"} for i in range(40)])
    ws = Workspace.open(workspace_dir)
    try:
        plan = plan_migration(ws, parse_spec({"kind": "drop_column", "table": "users",
                                              "column": "bio"}), mongo_url).plan  # fmt: skip
        with pytest.raises(BackupRequiredError):
            execute(ws, plan, mongo_url)
        assert db.users.count_documents({"bio": {"$exists": True}}) == 40
        taken = take_backup(ws, mongo_url, ["users"])
        assert taken["verified"]
        _action, out = execute(ws, plan, mongo_url)
        assert out["backup"]["backup"]["id"] == taken["id"]
        assert db.users.count_documents({"bio": {"$exists": True}}) == 0
    finally:
        client.drop_database(db.name)
        client.close()
