"""docs/coordination.md lists every coordination command, subcommand and MCP tool."""

from __future__ import annotations

import asyncio
from pathlib import Path

from datamigration.cli import build_parser
from datamigration.mcp.app import build_server
from datamigration.workspace.root import Workspace

DOC = Path(__file__).resolve().parents[2] / "docs" / "coordination.md"
COMMANDS = ("status", "bus", "adr-new", "expertise")


def test_every_coordination_subcommand_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    (top,) = [a for a in build_parser()._actions if a.dest == "command"]
    for name in COMMANDS:
        assert f"`datamigration {name}" in text, name
        subs = [a for a in top.choices[name]._actions if a.dest.endswith("_command")]
        for sub in subs[0].choices if subs else ():
            assert f"{name} {sub}" in text, f"{name} {sub}"


def test_every_coordination_tool_is_documented(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    tools = [t.name for t in asyncio.run(build_server(Workspace.open(tmp_path)).list_tools())]
    ours = [t for t in tools if t.split("_")[0] in {"status", "bus", "adr", "expertise"}]
    assert len(ours) == 9
    for name in ours:
        assert f"`{name}`" in text, name
