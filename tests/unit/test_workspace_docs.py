"""docs/workspace-tools.md lists every workspace tool, CLI twin, built-in allow entry and framework."""

from __future__ import annotations

from pathlib import Path

import pytest

from datamigration.workspace.frameworks import FRAMEWORKS
from datamigration.workspace.runner import DEFAULT_ALLOW

DOC = Path(__file__).resolve().parents[2] / "docs" / "workspace-tools.md"
TOOLS = ["read", "write", "edit", "glob", "grep", "run", "find_migrations"]
CLI = ["read", "write", "edit", "glob", "grep", "run", "migrations"]


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def test_every_tool_and_cli_twin_is_documented(doc: str) -> None:
    for tool in TOOLS:
        assert f"| `{tool}` |" in doc, tool
    for command in CLI:
        assert f"`datamigration {command}" in doc, command


def test_every_builtin_allow_entry_is_documented(doc: str) -> None:
    words = doc.replace("|", " ").replace("`", " ").replace(",", " ")
    for entry in DEFAULT_ALLOW:
        program = entry.split()[0]
        last = entry.rstrip(" $").split()[-1]
        assert program in words.split() and last in words.split(), entry


def test_every_detected_framework_is_documented(doc: str) -> None:
    for framework in FRAMEWORKS:
        assert f"| `{framework}` |" in doc, framework
