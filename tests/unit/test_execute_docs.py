"""docs/execution.md names every executor command, option, tool and state table."""

from __future__ import annotations

import argparse
import asyncio
import re
from pathlib import Path

from datamigration.cli import build_parser
from datamigration.execute import state

DOC = (Path(__file__).resolve().parents[2] / "docs" / "execution.md").read_text(encoding="utf-8")
COMMANDS = ("execute", "rollback", "rehearse", "run-status")


def subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def test_every_executor_command_and_option_is_documented():
    for name in COMMANDS:
        assert f"datamigration {name}" in DOC, name
        for action in subparser(name)._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert flag in DOC, f"{name} {flag} is not in docs/execution.md"


def test_every_executor_tool_is_documented(workspace_dir):
    from datamigration.mcp.app import build_server
    from datamigration.workspace.root import Workspace

    server = build_server(Workspace.open(workspace_dir))
    tools = asyncio.run(server.list_tools())
    names = {"execute", "rollback", "rehearse", "run_status"}
    mine = {t.name for t in tools if t.name in names}
    assert mine == names
    for name in mine:
        assert re.search(rf"`{name}`", DOC), name


def test_the_state_tables_in_the_docs_are_the_ones_the_executor_creates():
    for table in (state.RUNS, state.STEPS, state.CHECKPOINTS):
        assert f"`{table}`" in DOC
    for status in state.STEP_STATUSES:
        if status != "pending":
            assert status in DOC, status
