"""MongoDB plans on a real wire server: plan -> execute -> validate -> contract, and rollback,
each leaving every document intact (a digest of all documents in _id order).

Plans come from the planner on the live collection; the executor runs them through the same
service the CLI and the MCP tools call. nx-27017 (the default test server) takes no update
pipelines, ignores validators and names indexes itself: the backfills convert on the client,
the required-field check is the not_null rule, and indexes are found by their keys.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pymongo
import pytest
from bson import ObjectId, json_util

from datamigration.errors import ValidationFailedError
from datamigration.execute import service
from datamigration.execute.runner import RunOptions
from datamigration.plan.planner import plan_migration
from datamigration.plan.spec import parse_spec
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration

DOCS = 3_000
RENAME = {"kind": "rename_column", "table": "users", "column": "full_name",
          "new_name": "display_name", "batch_size": 500}  # fmt: skip


@pytest.fixture
def ws(workspace_dir: Path) -> Workspace:
    return Workspace.open(str(workspace_dir))


@pytest.fixture
def db(mongo_url: str):
    client = pymongo.MongoClient(mongo_url, serverSelectionTimeoutMS=5000)
    database = client.get_default_database()
    database.users.insert_many(
        [{"_id": ObjectId(), "full_name": f"User {i}", "age": i % 90, "email": f"u{i}@x.io",
          "tags": ["a", "b"][: i % 3], "address": {"city": f"C{i % 7}"}} for i in range(DOCS)]
    )  # fmt: skip
    yield database
    client.drop_database(database.name)
    client.close()


def digest(db, rename: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> str:
    """sha256 of every users document in _id order (fields renamed / dropped as asked)."""
    h = hashlib.sha256()
    for doc in db.users.find(sort=[("_id", 1)]):
        doc = {(rename or {}).get(k, k): v for k, v in doc.items() if k not in drop}
        h.update(json_util.dumps(dict(sorted(doc.items()))).encode())
    return h.hexdigest()


def plan_for(ws: Workspace, url: str, spec: dict):
    return plan_migration(ws, parse_spec(spec), url).plan


def run(ws, plan, url, mode="execute", options=None, **kw):
    prepared = service.prepare(ws, plan.id, plan.hash, mode=mode, db=url,
                               options=options or RunOptions(), **kw)  # fmt: skip
    return service.jsonable_result(prepared.run())


def test_rename_field_runs_to_the_contract_and_keeps_every_document(ws, mongo_url, db):
    before = digest(db)
    plan = plan_for(ws, mongo_url, RENAME)
    assert plan.dialect == "mongodb"
    assert [s.phase for s in plan.steps] == ["expand", "migrate", "switch", "switch", "contract",
                                             "contract"]  # fmt: skip
    for phase in ("expand", "migrate", "switch"):
        run(ws, plan, mongo_url, phase=phase)
    # both fields side by side, the old documents untouched
    assert digest(db, drop=("display_name",)) == before
    assert db.users.count_documents({"display_name": {"$exists": True}}) == DOCS
    assert all(d["display_name"] == d["full_name"] for d in db.users.find())
    out = run(ws, plan, mongo_url, phase="contract")
    assert out["remaining"] == []
    assert out["final_validation"]["passed"], out["final_validation"]
    assert db.users.count_documents({"full_name": {"$exists": True}}) == 0
    assert digest(db, rename={"display_name": "full_name"}) == before
    assert service.run_status(ws, plan.id, db=mongo_url)["run"]["status"] == "completed"


def test_rename_field_rolls_back_to_the_original_documents(ws, mongo_url, db):
    before = digest(db)
    plan = plan_for(ws, mongo_url, RENAME)
    run(ws, plan, mongo_url, all_steps=True)  # through the contract: it can be undone
    assert db.users.count_documents({"full_name": {"$exists": True}}) == 0
    out = run(ws, plan, mongo_url, mode="rollback", all_steps=True)
    assert [s["step"] for s in out["steps"]] == [s.id for s in reversed(plan.steps)]
    assert digest(db) == before
    assert service.run_status(ws, plan.id, db=mongo_url)["run"]["status"] == "rolled_back"


def test_the_contract_is_held_while_a_document_differs(ws, mongo_url, db):
    plan = plan_for(ws, mongo_url, RENAME)
    for phase in ("expand", "migrate", "switch"):
        run(ws, plan, mongo_url, phase=phase)
    # an application instance that wrote only the old field
    db.users.update_one({}, {"$set": {"full_name": "changed by an old instance"}})
    with pytest.raises(ValidationFailedError) as err:
        run(ws, plan, mongo_url, phase="contract")
    assert "1 of 3000 document(s)" in err.value.message
    assert db.users.count_documents({"full_name": {"$exists": True}}) == DOCS


def test_change_type_int_to_long_converts_every_document(ws, mongo_url, db):
    before = digest(db)
    spec = {"kind": "change_type", "table": "users", "column": "age", "type": "long",
            "batch_size": 400}  # fmt: skip
    plan = plan_for(ws, mongo_url, spec)
    assert any("age_long" in w for w in plan.warnings)
    contract = plan.steps[-1]
    assert contract.reversible  # int -> long converts back exactly
    run(ws, plan, mongo_url, all_steps=True)
    assert db.users.count_documents({"age": {"$exists": True}}) == 0
    assert digest(db, rename={"age_long": "age"}) == before
    run(ws, plan, mongo_url, mode="rollback", all_steps=True)
    assert digest(db) == before


def _index_keys(db) -> list[list[str]]:
    return sorted([k for k in ix["key"]] for ix in db.users.list_indexes())


def test_add_and_drop_index_build_and_roll_back(ws, mongo_url, db):
    plan = plan_for(ws, mongo_url, {"kind": "add_index", "table": "users", "columns": ["email"],
                                    "unique": True})  # fmt: skip
    out = run(ws, plan, mongo_url, all_steps=True)
    assert out["final_validation"]["passed"]
    assert ["email"] in _index_keys(db)
    with pytest.raises(pymongo.errors.DuplicateKeyError):
        db.users.insert_one({"email": "u1@x.io"})
    run(ws, plan, mongo_url, mode="rollback", all_steps=True)
    assert ["email"] not in _index_keys(db)

    db.users.create_index([("age", 1)], name="users_age_idx")
    name = next(ix["name"] for ix in db.users.list_indexes() if list(ix["key"]) == ["age"])
    drop = plan_for(ws, mongo_url, {"kind": "drop_index", "table": "users", "name": name})
    run(ws, drop, mongo_url, all_steps=True)
    assert ["age"] not in _index_keys(db)
    run(ws, drop, mongo_url, mode="rollback", all_steps=True)
    assert ["age"] in _index_keys(db)


def test_set_not_null_fills_then_requires_the_field(ws, mongo_url, db):
    db.users.update_many({"age": {"$lt": 10}}, {"$unset": {"email": ""}})
    missing = db.users.count_documents({"email": {"$exists": False}})
    assert missing > 0
    plan = plan_for(ws, mongo_url, {"kind": "set_not_null", "table": "users", "column": "email",
                                    "fill": '"unknown@x.io"'})  # fmt: skip
    actions = [o.params.get("validationAction") for s in plan.steps for o in s.operations
               if o.params.get("op") == "coll_mod"]  # fmt: skip
    assert actions == ["warn", "error"]
    out = run(ws, plan, mongo_url, all_steps=True)
    # nx-27017 ignores validators: the not_null rule is the check that must hold
    assert out["final_validation"]["passed"], out["final_validation"]
    assert db.users.count_documents({"email": "unknown@x.io"}) == missing


def test_add_field_with_default_and_drop_field(ws, mongo_url, db):
    plan = plan_for(ws, mongo_url, {"kind": "add_column", "table": "users", "column": "plan",
                                    "type": "string", "default": "free"})  # fmt: skip
    run(ws, plan, mongo_url, all_steps=True)
    assert db.users.count_documents({"plan": "free"}) == DOCS
    run(ws, plan, mongo_url, mode="rollback", all_steps=True)
    assert db.users.count_documents({"plan": {"$exists": True}}) == 0
    before = digest(db, drop=("tags",))
    drop = plan_for(ws, mongo_url, {"kind": "drop_column", "table": "users", "column": "tags"})
    assert not drop.steps[-1].reversible
    run(ws, drop, mongo_url, all_steps=True)
    assert db.users.count_documents({"tags": {"$exists": True}}) == 0
    assert digest(db) == before


class Stop(Exception):
    """Raised from the progress callback: the executor's run ends mid-backfill."""


def test_a_stopped_backfill_resumes_from_its_checkpoint(ws, mongo_url, db):
    plan = plan_for(ws, mongo_url, RENAME)
    run(ws, plan, mongo_url, phase="expand")
    seen: list[dict] = []

    def progress(event: str, data: dict) -> None:
        if event == "batch":
            seen.append(data)
            if len(seen) == 3:
                raise Stop

    with pytest.raises(Stop):
        run(ws, plan, mongo_url, step="s02",
            options=RunOptions(batch_size=200, progress=progress))  # fmt: skip
    assert db.users.count_documents({"display_name": {"$exists": True}}) == 600
    status = service.run_status(ws, plan.id, db=mongo_url)
    cp = next(c for c in status["checkpoints"] if c["step"] == "s02")
    assert (cp["batches"], cp["rows_done"], cp["finished"]) == (3, 600, False)
    assert next(s for s in status["steps"] if s["step"] == "s02")["status"] == "failed"
    out = run(ws, plan, mongo_url, step="s02", options=RunOptions(batch_size=200))
    backfill = out["steps"][0]["operations"][0]
    assert backfill["resumed_from"] == [str(k) for k in cp["last_key"]]
    assert backfill["batches"] == 13  # 2,400 documents left, the last batch finds the end
    assert db.users.count_documents({"display_name": {"$exists": True}}) == DOCS


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from datamigration.execute import service
    from datamigration.execute.runner import RunOptions
    from datamigration.workspace.root import Workspace

    ws = Workspace.open(sys.argv[1])
    count = []

    def progress(event, data):
        if event == "batch":
            count.append(1)
            if len(count) == 4:
                os.kill(os.getpid(), signal.SIGKILL)

    p = service.prepare(ws, sys.argv[2], sys.argv[3], db=sys.argv[4], step="s02",
                        options=RunOptions(batch_size=250, progress=progress))
    p.run()
    """
)


def test_a_killed_executor_resumes_from_its_checkpoint(ws, mongo_url, db):
    plan = plan_for(ws, mongo_url, RENAME)
    run(ws, plan, mongo_url, phase="expand")
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(ws.root), plan.id, plan.hash, mongo_url],
        check=False, capture_output=True, timeout=120, env={**os.environ},
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert db.users.count_documents({"display_name": {"$exists": True}}) == 1000
    # the dead executor's lock is taken over at once (same host, no such process)
    out = run(ws, plan, mongo_url, step="s02", options=RunOptions(batch_size=250))
    backfill = out["steps"][0]["operations"][0]
    assert backfill["resumed_from"] is not None
    assert backfill["batches"] == 9
    assert db.users.count_documents({"display_name": {"$exists": True}}) == DOCS
    assert all(d["display_name"] == d["full_name"] for d in db.users.find())


def test_the_dry_run_shows_exactly_the_operations_that_run(ws, mongo_url, db):
    plan = plan_for(ws, mongo_url, RENAME)
    dry = run(ws, plan, mongo_url, all_steps=True, dry_run=True)
    shown = [(o["id"], o["params"]) for s in dry["steps"] for o in s["operations"]
             if o["kind"] == "document"]  # fmt: skip
    assert {p["op"] for _, p in shown} == {"set_fields", "count_mismatches", "update_many"}
    run(ws, plan, mongo_url, all_steps=True)
    import json

    log = Path(ws.state_dir / "runs" / f"{plan.id}.jsonl").read_text().splitlines()
    ran = [(e["operation"], e["document"]) for e in map(json.loads, log)
           if e["event"] == "operation" and e.get("document")]  # fmt: skip
    assert ran == shown
