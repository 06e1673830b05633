"""`datamigration query` / `inspect` on MongoDB from a terminal: refusals exit non-zero, the
data is untouched, and a password in the URL is never printed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pymongo
import pytest

pytestmark = pytest.mark.integration

CLI = str(Path(sys.executable).parent / "datamigration")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, *args], check=False, capture_output=True, text=True, cwd=cwd, timeout=60
    )


@pytest.fixture
def users_db(mongo_url: str):
    client = pymongo.MongoClient(mongo_url, serverSelectionTimeoutMS=5000)
    db = client.get_default_database()
    db.users.insert_many([{"_id": i, "name": f"u{i}", "tags": ["a"]} for i in range(3)])
    yield mongo_url, db
    client.drop_database(db.name)
    client.close()


def test_cli_refuses_out_and_leaves_the_collection_as_it_was(users_db, workspace_dir):
    url, db = users_db
    before = list(db.users.find().sort("_id"))
    res = run("query", url, '{"aggregate": "users", "pipeline": [{"$out": "x"}]}',
              cwd=workspace_dir)  # fmt: skip
    assert res.returncode == 5, res.stderr
    assert "$out is refused" in res.stderr and "hint:" in res.stderr
    assert "Traceback" not in res.stderr
    assert list(db.users.find().sort("_id")) == before
    assert "x" not in db.list_collection_names()


def test_cli_query_and_inspect_print_json(users_db, workspace_dir):
    url, _ = users_db
    res = run("query", url, '{"find": "users", "sort": {"_id": 1}}', "--max-rows", "2",
              "--json", cwd=workspace_dir)  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["truncated"] and out["untrusted_data"] and out["row_count"] == 2
    assert out["rows"][0][0] == {"_id": 0, "name": "u0", "tags": ["a"]}
    res = run("inspect", url, "--json", cwd=workspace_dir)
    assert res.returncode == 0, res.stderr
    assert "users" in res.stdout


def test_cli_never_prints_the_password_of_a_mongodb_url(workspace_dir, mongo_server_url):
    host = mongo_server_url.split("://", 1)[1]
    url = f"mongodb://admin:Pw-n0t-for-eyes@{host}/dmtest_cli"
    res = run("query", url, '{"count": "users"}', cwd=workspace_dir)
    assert res.returncode != 0
    assert "Pw-n0t-for-eyes" not in res.stdout + res.stderr
    assert "***" in res.stderr
