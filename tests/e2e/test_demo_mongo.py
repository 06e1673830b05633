"""`datamigration demo --db mongodb://...` runs the MongoDB chapter on a real wire server: a field
renamed on a live collection by expand-contract and rolled back while an application reads and
writes it, with no failed application operation; its own database is dropped at the end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pymongo
import pytest

from datamigration.demo.mongo_live import run_live
from datamigration.workspace.root import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

CLI = str(Path(sys.executable).parent / "datamigration")


def test_demo_on_mongodb_renames_under_load_rolls_back_and_drops_its_database(mongo_url, tmp_path):
    proc = subprocess.run(
        [CLI, "demo", "--dir", str(tmp_path / "ws"), "--db", mongo_url, "--json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["ok"] is True and report["dialect"] == "mongodb"
    steps = {s["key"]: s for s in report["steps"]}
    assert [s["status"] for s in report["steps"]] == ["done", "done"], report["steps"]
    live = steps["live_rename"]["data"]
    assert live["app"]["failures"] == 0, live["app"]["errors"]
    assert live["app"]["ops"] > 0 and live["app"]["writes"] > 0
    assert live["validation_passed"] is True
    assert live["steps_executed"] == ["s01", "s02", "s03", "s04"]
    assert live["steps_rolled_back"] == ["s04", "s03", "s02", "s01"]
    assert live["display_name_left_after_rollback"] == 0
    assert live["documents_after"] == live["documents"] + live["app"]["inserts"]
    name = report["database"]["name"]
    assert name.startswith("dm_demo_")
    with pymongo.MongoClient(mongo_url, serverSelectionTimeoutMS=5000) as client:
        assert name not in client.list_database_names()


def test_the_live_chapter_keeps_every_user_and_counts_the_application_work(mongo_url, tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    stats = run_live(mongo_url, Workspace.open(str(root)), documents=1500, batch_size=200)
    assert stats["documents"] == 1500
    assert stats["app"]["failures"] == 0, stats["app"]["errors"]
    assert stats["app"]["reads"] > 0
    with pymongo.MongoClient(mongo_url, serverSelectionTimeoutMS=5000) as client:
        users = client.get_default_database().users
        assert users.count_documents({}) == 1500 + stats["app"]["inserts"]
        assert users.count_documents({"full_name": {"$exists": True}}) == users.count_documents({})
        assert users.count_documents({"display_name": {"$exists": True}}) == 0
