"""Staging rehearsal of MongoDB plans: the plan runs, rolls back and runs again with the MongoDB
executor on a throwaway sibling database (a sampled copy, dropped afterwards, also on failure)
or on a given staging database; the source collection is never touched.

ObjectIds as _id: nx-27017 (the default test server) sorts integer _ids as text.
"""

from __future__ import annotations

import hashlib
import uuid

import pymongo
import pytest
from bson import ObjectId, json_util

from datamigration.db.base import connect
from datamigration.db.mongodb import throwaway as mongo_copy
from datamigration.execute import service
from datamigration.plan.planner import plan_migration
from datamigration.plan.spec import parse_spec
from datamigration.plan.store import docs_plan_dir, load_plan
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration

DOCS = 1_500
RENAME = {"kind": "rename_column", "table": "users", "column": "full_name",
          "new_name": "display_name", "batch_size": 200}  # fmt: skip


def fill(database) -> None:
    database.users.insert_many(
        [{"_id": ObjectId(), "full_name": f"User {i}", "email": f"u{i}@x.io", "age": i % 90}
         for i in range(DOCS)]
    )  # fmt: skip
    database.users.create_index([("email", 1)], unique=True)


@pytest.fixture
def client(mongo_server_url: str):
    c = pymongo.MongoClient(mongo_server_url, serverSelectionTimeoutMS=5000)
    yield c
    c.close()


@pytest.fixture
def source(client, mongo_url: str):
    database = client[mongo_url.rsplit("/", 1)[1]]
    fill(database)
    yield database
    client.drop_database(database.name)


def digest(database) -> str:
    h = hashlib.sha256()
    for doc in database.users.find(sort=[("_id", 1)]):
        h.update(json_util.dumps(dict(sorted(doc.items()))).encode())
    return h.hexdigest()


def rehearsal_dbs(client) -> set[str]:
    return {n for n in client.list_database_names() if n.startswith("dm_rehearsal_")}


def test_a_rehearsal_on_a_throwaway_copy_leaves_the_source_collection_as_it_was(
    workspace_dir, mongo_url, client, source
):
    ws = Workspace.open(str(workspace_dir))
    before, dbs_before = digest(source), rehearsal_dbs(client)
    plan = plan_migration(ws, parse_spec(RENAME), mongo_url).plan
    assert plan.dialect == "mongodb"
    seen: set[str] = set()

    def progress(event: str, data: dict) -> None:  # where the batches run: the copy
        if event == "batch":
            seen.update(rehearsal_dbs(client) - dbs_before)

    out = service.rehearse_plan(ws, plan, staging=None, db=mongo_url, sample_rows=600,
                                batch_size=100, progress=progress)  # fmt: skip
    r = out["rehearsal"]
    assert r["passed"] and r["throwaway_copy"] and r["sampled_rows"] == {"users": 600}
    assert r["database"].rsplit("/", 1)[1] in seen and len(seen) == 1
    assert [s["step"] for s in r["steps"]] == [s.id for s in plan.steps]
    assert [s["step"] for s in r["rollback_steps"]] == [
        s.id for s in reversed(plan.steps) if s.reversible
    ]
    assert r["rollback_seconds"] > 0 and r["full_run_seconds"] > 0
    # recorded like a SQL rehearsal: a new reviewed version, shown in plan.md
    assert out["recorded"] and out["plan_hash"] != plan.hash
    assert load_plan(ws, plan.id, out["plan_hash"]).rehearsal["steps"] == r["steps"]
    md = (docs_plan_dir(ws, plan.id) / "plan.md").read_text()
    assert "## Staging rehearsal" in md and out["plan_hash"] in md
    # the source is untouched (no run state either) and the copy is gone
    assert digest(source) == before
    assert "_datamigration_runs" not in source.list_collection_names()
    assert rehearsal_dbs(client) == dbs_before


def test_a_rehearsal_on_a_given_staging_database_runs_the_whole_plan_there(
    workspace_dir, mongo_url, mongo_server_url, client, source
):
    ws = Workspace.open(str(workspace_dir))
    staging_name = f"dmstaging_{uuid.uuid4().hex[:10]}"
    staging = client[staging_name]
    fill(staging)
    before, dbs_before = digest(source), rehearsal_dbs(client)
    try:
        plan = plan_migration(ws, parse_spec(RENAME), mongo_url).plan
        out = service.rehearse_plan(ws, plan, staging=f"{mongo_server_url}/{staging_name}",
                                    db=None, record=False, batch_size=500)  # fmt: skip
        r = out["rehearsal"]
        assert r["passed"] and not r["throwaway_copy"] and r["sampled_rows"] == {}
        assert r["database"].endswith(f"/{staging_name}")
        assert not out["recorded"] and out["plan_hash"] == plan.hash
        # staging went through the contract: every document renamed
        assert staging.users.count_documents({"display_name": {"$exists": True}}) == DOCS
        assert staging.users.count_documents({"full_name": {"$exists": True}}) == 0
        # production is untouched, has no run, and no throwaway copy was made
        assert digest(source) == before
        assert service.run_status(ws, plan.id, db=mongo_url)["run"] is None
        assert rehearsal_dbs(client) == dbs_before
    finally:
        client.drop_database(staging_name)


def test_the_throwaway_copy_is_dropped_when_the_rehearsal_fails(
    workspace_dir, mongo_url, client, source
):
    ws = Workspace.open(str(workspace_dir))
    before, dbs_before = digest(source), rehearsal_dbs(client)
    plan = plan_migration(ws, parse_spec(RENAME), mongo_url).plan
    seen: set[str] = set()

    def progress(event: str, data: dict) -> None:
        if event == "batch":
            seen.update(rehearsal_dbs(client) - dbs_before)
            raise RuntimeError("the staging database went away")

    with pytest.raises(RuntimeError, match="went away"):
        service.rehearse_plan(ws, plan, staging=None, db=mongo_url, progress=progress)
    assert len(seen) == 1  # the copy existed while the plan ran on it ...
    assert rehearsal_dbs(client) == dbs_before  # ... and is gone
    assert digest(source) == before
    assert load_plan(ws, plan.id, plan.hash).rehearsal is None


def test_a_throwaway_copy_holds_the_sample_and_the_collection_indexes(mongo_url, client, source):
    with connect(mongo_url) as backend:
        name = f"dm_rehearsal_{uuid.uuid4().hex[:8]}"
        url, copied = mongo_copy.throwaway_copy(backend, name, ["users", "not_there"], 250)
        try:
            assert copied == {"users": 250} and url.endswith(f"/{name}")
            copy = client[name]
            first = [d["_id"] for d in source.users.find(sort=[("_id", 1)], limit=250)]
            assert [d["_id"] for d in copy.users.find(sort=[("_id", 1)])] == first
            keys = [dict(i["key"]) for i in copy.users.list_indexes()]
            assert {"email": 1} in keys
            assert copy.users.find_one({"_id": first[0]}) == source.users.find_one(
                {"_id": first[0]}
            )
            with pytest.raises(pymongo.errors.DuplicateKeyError):  # the unique index holds
                copy.users.insert_one({"email": copy.users.find_one()["email"]})
        finally:
            mongo_copy.drop_throwaway(backend, name)
            mongo_copy.drop_throwaway(backend, name)  # twice is fine
        assert name not in client.list_database_names()
