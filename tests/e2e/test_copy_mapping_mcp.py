"""`copy_data` with a mapping file through a real MCP client: the dry run shows the collection's
validator and indexes, the confirmed copy embeds the orders and validates every table, and a
mapping naming a missing column comes back as a tool error a model can act on."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest
from mcp.client import Client

from datamigration.mcp.app import build_server
from datamigration.workspace.root import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

DDL = """
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL UNIQUE, name text);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users(id),
  total double precision NOT NULL);
INSERT INTO users SELECT g, 'u' || g || '@x.io', 'n' || g FROM generate_series(1, 60) g;
INSERT INTO orders SELECT g, 1 + g % 40, g * 1.5 FROM generate_series(1, 150) g;
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def call(client: Client, args: dict[str, Any]) -> tuple[bool, Any]:
    result = await client.call_tool("copy_data", args)
    if result.is_error:
        return False, result.content[0].text
    return True, result.structured_content


async def test_copy_data_with_a_mapping_file_embeds_validates_and_refuses_bad_names(
    pg_url: str, mongo_url: str, workspace_dir: Path
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(DDL)
    mapping = {"collections": [{"collection": "users", "root": "users",
                                "embed": [{"table": "orders", "kind": "array"}]}]}  # fmt: skip
    (workspace_dir / "m.json").write_text(json.dumps(mapping))
    args = {"source": pg_url, "target": mongo_url, "tables": ["users"], "mapping_file": "m.json"}
    server = build_server(Workspace.open(workspace_dir))
    async with Client(server) as client:
        ok, plan = await call(client, {**args, "dry_run": True})
        assert ok, plan
        assert any('"create_collection"' in s for s in plan["tables"][0]["ddl"])
        ok, text = await call(client, args)
        assert not ok
        token = re.search(r"confirm_token='(cfm-[^']+)'", text).group(1)
        ok, report = await call(client, {**args, "confirm_token": token})
        assert ok, report
        by_table = {v["table"]: v for v in report["validation"]}
        assert by_table["orders"]["source_rows"] == by_table["orders"]["target_rows"] == 150
        assert report["passed"]
        mapping["collections"][0]["embed"][0]["sort"] = [{"column": "totl"}]
        (workspace_dir / "m.json").write_text(json.dumps(mapping))
        ok, text = await call(client, {**args, "dry_run": True})
    assert not ok
    assert "'totl'" in text and "total" in text
