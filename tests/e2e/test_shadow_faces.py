"""Shadow reads through both faces: the `shadow_reads` MCP tool (read-only, output schema) and
`datamigration shadow` (exit code 1 when the gate fails) find the same planted differences;
a queries file holding a write is refused by both with nothing run."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from mcp.client import Client

from datamigration.cli import main
from datamigration.mcp.app import build_server
from datamigration.workspace.root import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def run_sql(url: str, sql: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture
def pair(make_pg_url) -> tuple[str, str]:
    src, dst = make_pg_url(), make_pg_url()
    for url in (src, dst):
        run_sql(url, "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);"
                     "INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 500) g")  # fmt: skip
    run_sql(dst, "UPDATE users SET email = 'x' WHERE id IN (3, 300)")
    return src, dst


async def test_the_tool_finds_the_planted_differences_and_is_read_only(pair, workspace_dir):
    src, dst = pair
    server = build_server(Workspace.open(workspace_dir))
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["shadow_reads"].annotations.read_only_hint is True
        assert "mismatch_rate" in tools["shadow_reads"].output_schema["properties"]
        args = {"source": src, "target": dst, "tables": ["users"], "min_reads": 100}
        out = (await client.call_tool("shadow_reads", args)).structured_content
        (workspace_dir / "q.sql").write_text("SELECT 1;\nDELETE FROM users;\n")
        bad = await client.call_tool("shadow_reads", {"source": src, "target": dst,
                                                      "queries_file": "q.sql"})  # fmt: skip
    assert (out["reads"], out["mismatches"], out["passed"]) == (500, 2, False)
    assert sorted(e["key"] for e in out["examples"]) == [3, 300]
    assert out["report_json"] == "docs/validation/shadow-users.json"
    assert bad.is_error and "line 2" in bad.content[0].text
    with psycopg.connect(src) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (500,)


def test_the_command_exits_1_on_a_failed_gate_and_0_on_a_passed_one(
    pair, workspace_dir: Path, capsys
):
    src, dst = pair
    ws = ["--workspace", str(workspace_dir)]
    assert main([*ws, "shadow", src, dst, "--tables", "users", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert (out["reads"], out["mismatches"]) == (500, 2)
    assert main([*ws, "shadow", src, src, "--tables", "users", "--min-reads", "400"]) == 0
    text = capsys.readouterr().out
    assert "PASSED" in text and "reads: 500" in text
    (workspace_dir / "q.sql").write_text("SELECT count(*) FROM users;\nUPDATE users SET id = 0;")
    assert main([*ws, "shadow", src, dst, "--queries", "q.sql"]) == 2
    assert "not plain reads" in capsys.readouterr().err
