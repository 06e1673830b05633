"""Bad input over MCP (issue 10 #10): a tool error with a hint, never a crash or pydantic's dump.

Arguments of the wrong type used to come back as pydantic's raw report (the rejected value
echoed, a link to pydantic's site, no hint). Now they name the argument, the problem and the
tool's arguments; malformed specs, rules files, deep nesting and an unrecognized lint folder
are tool errors with a hint, and nothing is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from mcp.server import MCPServer

from datamigration.mcp.app import build_server
from datamigration.safeload import MAX_DEPTH
from datamigration.workspace.root import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

SECRET = "S3cr3tPw"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server(workspace_dir: Path) -> MCPServer:
    return build_server(Workspace.open(workspace_dir))


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


async def tool_error(client: Client, name: str, args: dict[str, Any]) -> str:
    result = await client.call_tool(name, args)
    assert result.is_error, result.structured_content
    text = result.content[0].text
    assert "\nhint: " in text and "Traceback" not in text
    assert "errors.pydantic.dev" not in text and SECRET not in text
    return text


@pytest.mark.parametrize(
    ("tool", "args", "problem", "listed"),
    [
        ("plan_migration", {"spec": [1, 2, 3], "db": f"postgresql://u:{SECRET}@h/d"}, "spec:",
         "spec* (object), db* (string)"),
        ("plan_migration", {"spec": "x", "db": "sqlite:///a.db"}, "spec:", "pattern (string)"),
        ("plan_migration", {"spec": None, "db": "sqlite:///a.db"}, "spec:", "story (string)"),
        ("bus_read", {"limit": 100_000}, "limit: Input should be less than or equal to 500",
         "limit (integer 1-500)"),
        ("bus_post", {"type": 3}, "text: Field required", "type* (string), text* (string)"),
        ("query", {"db": f"mysql://u:{SECRET}@h/d", "sql": "SELECT 1", "max_rows": "all"},
         "max_rows:", "max_rows (integer 1-10000)"),
    ],
)  # fmt: skip
async def test_arguments_of_the_wrong_shape_are_a_tool_error_naming_the_tools_arguments(
    server: MCPServer, tool: str, args: dict[str, Any], problem: str, listed: str
) -> None:
    async with Client(server) as client:
        text = await tool_error(client, tool, args)
    assert text.startswith(f"Error executing tool {tool}: UserInputError: invalid arguments: ")
    assert problem in text and f"hint: {tool} takes: " in text and listed in text


async def test_an_empty_spec_names_the_missing_kind(server: MCPServer, workspace_dir: Path) -> None:
    async with Client(server) as client:
        text = await tool_error(client, "plan_migration", {"spec": {}, "db": "sqlite:///a.db"})
    assert "'kind' is a required property" in text
    assert not (workspace_dir / "a.db").exists()  # refused before connecting


async def test_a_deeply_nested_spec_is_refused_before_connecting(
    server: MCPServer, workspace_dir: Path
) -> None:
    spec = {"kind": "add_column", "table": "t", "column": "c", "type": "int", "x": nested(100)}
    async with Client(server) as client:
        text = await tool_error(client, "plan_migration", {"spec": spec, "db": "sqlite:///a.db"})
    assert f"nests deeper than {MAX_DEPTH} levels" in text
    assert not (workspace_dir / "a.db").exists()


async def test_deeply_nested_story_fields_are_refused_and_nothing_is_written(
    server: MCPServer, workspace_dir: Path
) -> None:
    async with Client(server) as client:
        await client.call_tool("status_update", {"story": "US-1", "title": "t"})
        before = (workspace_dir / "status.json").read_text()
        args = {"story": "US-1", "fields": {"notes": nested(MAX_DEPTH + 1)}}
        text = await tool_error(client, "status_update", args)
    assert "nests deeper than" in text
    assert (workspace_dir / "status.json").read_text() == before


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("rules.yaml", "- " * 100_000 + "x\n"),
        ("rules.json", "[" * 100_000 + "]" * 100_000),
        ("rules.yaml", "[1, 2, 3]\n"),
    ],
)
async def test_a_malformed_rules_file_is_a_tool_error_with_a_hint(
    server: MCPServer, workspace_dir: Path, name: str, text: str
) -> None:
    (workspace_dir / name).write_text(text)
    async with Client(server) as client:
        err = await tool_error(client, "validate", {"rules_file": name})
    assert "FileFormatError" in err and name in err
    assert not (workspace_dir / "docs").exists()  # no report written


async def test_lint_of_a_folder_that_is_not_a_migrations_folder_is_a_tool_error(
    server: MCPServer, workspace_dir: Path
) -> None:
    (workspace_dir / "some" / "dir").mkdir(parents=True)
    (workspace_dir / "some" / "dir" / "readme.txt").write_text("not SQL")
    async with Client(server) as client:
        text = await tool_error(client, "lint_migration", {"paths": ["some/dir"]})
    assert "not a recognized migrations folder" in text and "find_migrations" in text
