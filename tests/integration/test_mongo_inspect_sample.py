"""`inspect` with a sample size (CLI --sample-size, MCP `sample_size`) on MongoDB, refused on SQL
databases; `query` on MongoDB prints whole documents as JSON lines, SQL cells are cut visibly."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pymongo
import pytest
from mcp.client import Client

from datamigration.cli import main as cli_main
from datamigration.mcp.app import build_server
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration

LONG = "x" * 150


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def events(mongo_url: str):
    """A collection of 40 documents; 10 of them carry an extra `rare` field."""
    client = pymongo.MongoClient(mongo_url, serverSelectionTimeoutMS=5000)
    db = client.get_default_database()
    db.events.insert_many(
        [{"_id": i, "kind": "click", "payload": {"note": LONG, "n": i}} for i in range(30)]
        + [{"_id": 100 + i, "kind": "view", "rare": True} for i in range(10)]
    )
    yield mongo_url
    client.drop_database(db.name)
    client.close()


def cli(capsys, workspace_dir: Path, *args: str) -> tuple[int, str, str]:
    rc = cli_main(["--workspace", str(workspace_dir), *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def collection(summary: dict, name: str) -> dict:
    return next(c for c in summary["collections"] if c["name"] == name)


def test_cli_inspect_samples_as_many_documents_as_asked(events, workspace_dir, capsys):
    rc, out, err = cli(capsys, workspace_dir, "inspect", events, "--sample-size", "5", "--json")
    assert rc == 0, err
    assert collection(json.loads(out), "events")["sampled"] == 5
    rc, out, _ = cli(capsys, workspace_dir, "inspect", events, "--sample-size", "40", "--json")
    whole = collection(json.loads(out), "events")
    assert whole["sampled"] == 40 and "rare" in whole["fields"]  # every document read
    rc, out, _ = cli(capsys, workspace_dir, "inspect", events, "--sample-size", "0", "--json")
    none = collection(json.loads(out), "events")
    assert none["sampled"] == 0 and none["fields"] == [] and none["documents"] == 40


def test_cli_inspect_refuses_a_negative_sample_size_and_one_for_sql(
    events, sqlite_url, workspace_dir, capsys
):
    rc, _, err = cli(capsys, workspace_dir, "inspect", events, "--sample-size", "-1")
    assert rc != 0 and "0 or more" in err and "hint:" in err
    sqlite3.connect(sqlite_url.removeprefix("sqlite:///")).execute("CREATE TABLE t (a int)")
    rc, _, err = cli(capsys, workspace_dir, "inspect", sqlite_url, "--sample-size", "10")
    assert rc != 0 and "MongoDB" in err and "Traceback" not in err


def test_cli_query_prints_each_document_whole_as_one_json_line(events, workspace_dir, capsys):
    query = '{"find": "events", "filter": {"_id": {"$lt": 3}}, "sort": {"_id": 1}}'
    rc, out, err = cli(capsys, workspace_dir, "query", events, query)
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert lines[-1] == "(3 rows; untrusted data)"
    docs = [json.loads(line) for line in lines[:-1]]
    assert docs == [
        {"_id": i, "kind": "click", "payload": {"note": LONG, "n": i}} for i in range(3)
    ]


def test_cli_query_on_sql_cuts_long_cells_visibly(sqlite_url, workspace_dir, capsys):
    conn = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    conn.execute("CREATE TABLE notes (id int, body text)")
    conn.execute("INSERT INTO notes VALUES (1, ?)", (LONG,))
    conn.commit()
    rc, out, err = cli(capsys, workspace_dir, "query", sqlite_url, "SELECT id, body FROM notes")
    assert rc == 0, err
    row = out.splitlines()[2]
    assert "x" * 59 + "…" in row and LONG not in row
    rc, out, _ = cli(capsys, workspace_dir, "query", sqlite_url, "SELECT body FROM notes", "--json")
    assert json.loads(out)["rows"] == [[LONG]]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_inspect_tool_takes_a_sample_size(events, sqlite_url, workspace_dir, mode):
    server = build_server(Workspace.open(workspace_dir))
    sqlite3.connect(sqlite_url.removeprefix("sqlite:///")).execute("CREATE TABLE t (a int)")
    async with Client(server, mode=mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        schema = tools["inspect"].input_schema["properties"]["sample_size"]
        assert "MongoDB" in schema["description"]
        result = await client.call_tool("inspect", {"db": events, "sample_size": 7})
        assert not result.is_error, result.content[0].text
        assert collection(result.structured_content, "events")["sampled"] == 7
        default = await client.call_tool("inspect", {"db": events})
        assert collection(default.structured_content, "events")["sampled"] == 40
        negative = await client.call_tool("inspect", {"db": events, "sample_size": -1})
        assert negative.is_error
        sql = await client.call_tool("inspect", {"db": sqlite_url, "sample_size": 10})
        assert sql.is_error and "MongoDB" in sql.content[0].text
