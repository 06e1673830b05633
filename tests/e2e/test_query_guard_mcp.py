"""The MCP `query` tool refuses the issue's MariaDB and MongoDB attacks (issue 10, items 4 and 8)
with an error that carries a hint, and nothing happens: no file written, no collection made."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pymongo
import pytest
from mcp.client import Client

from support.mcpserver import asyncio_backend, mcp_server  # noqa: F401 - fixtures
from support.querycheck import mysql_connect

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]


@pytest.fixture
def my_db(mysql_url: str) -> str:
    conn = mysql_connect(mysql_url)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id int PRIMARY KEY)")
        cur.execute("INSERT INTO t VALUES (1), (2)")
    return mysql_url


async def test_the_query_tool_refuses_an_executable_comment_and_writes_no_file(server, my_db):
    target = Path(f"/tmp/dm-mcp-pwned-{uuid.uuid4().hex}.txt")
    async with Client(server) as client:
        for into in ("OUTFILE", "DUMPFILE"):
            sql = f"SELECT * FROM t LIMIT 1 /*!INTO {into} '{target}' */"
            result = await client.call_tool("query", {"db": my_db, "sql": sql})
            assert result.is_error and "hint:" in result.content[0].text
            assert "executable comments" in result.content[0].text
        assert not target.exists()
        ok = await client.call_tool("query", {"db": my_db, "sql": "SELECT id FROM t"})
        assert not ok.is_error and ok.structured_content["rows"] == [[1], [2]]
        assert any("FILE" in w for w in ok.structured_content["warnings"])  # root holds FILE


async def test_the_query_tool_refuses_the_mongodb_operator_tricks(server, mongo_url):
    client_db = pymongo.MongoClient(mongo_url, serverSelectionTimeoutMS=5000)
    db = client_db.get_default_database()
    db.users.insert_many([{"_id": 1, "name": "a"}, {"_id": 2, "name": "b"}])
    attacks = [
        {"find": "users", "filter": {"$ref": "x", "$id": 1, "$where": "true"}},
        {"aggregate": "users", "pipeline": [{"$facet": {"f": [{"$merge": {"into": "pwned"}}]}}]},
    ]
    try:
        async with Client(server) as client:
            for attack in attacks:
                result = await client.call_tool(
                    "query", {"db": mongo_url, "sql": json.dumps(attack)}
                )
                assert result.is_error and "hint:" in result.content[0].text
                assert "read-only query path" in result.content[0].text
        assert db.list_collection_names() == ["users"]
        assert list(db.users.find().sort("_id")) == [
            {"_id": 1, "name": "a"},
            {"_id": 2, "name": "b"},
        ]
    finally:
        client_db.drop_database(db.name)
        client_db.close()
