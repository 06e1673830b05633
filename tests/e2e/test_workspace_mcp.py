"""The workspace tools through a real in-process MCP client, in both protocol eras."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import mcp_types as types
import pytest
from mcp.client import Client

from datamigration.mcp.app import build_server
from datamigration.workspace.root import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

MODES = ["auto", "legacy"]
TOOLS = {"read", "write", "edit", "glob", "grep", "run", "find_migrations"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def ws(workspace_dir: Path) -> Workspace:
    (workspace_dir / "migrations").mkdir()
    (workspace_dir / "migrations" / "001_init.sql").write_text("CREATE TABLE users (id int);\n")
    outside = workspace_dir.parent / "ws-evil"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET\n")
    os.symlink(outside, workspace_dir / "escape")
    return Workspace.open(workspace_dir)


def error_text(result: types.CallToolResult) -> str:
    assert result.is_error, result
    return result.content[0].text


def token_in(text: str) -> str:
    found = re.search(r"confirm_token='(cfm-[^']+)'", text)
    assert found, text
    return found.group(1)


@pytest.mark.parametrize("mode", MODES)
async def test_the_tools_are_listed_with_annotations_and_output_schemas(
    ws: Workspace, mode: str
) -> None:
    async with Client(build_server(ws), mode=mode) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
    assert TOOLS <= set(listed)
    for name in ("read", "glob", "grep", "find_migrations"):
        assert listed[name].annotations.read_only_hint is True, name
    for name in ("write", "edit", "run"):
        assert listed[name].annotations.read_only_hint is False, name
    assert listed["write"].annotations.destructive_hint is True
    assert listed["run"].annotations.destructive_hint is True
    assert listed["run"].annotations.open_world_hint is False
    for name in TOOLS:
        assert listed[name].output_schema, name
    assert "truncated" in listed["read"].output_schema["properties"]
    assert "truncated" in listed["grep"].output_schema["properties"]
    assert "truncated" in listed["run"].output_schema["properties"]


@pytest.mark.parametrize("mode", MODES)
async def test_write_read_edit_round_trip(ws: Workspace, mode: str) -> None:
    async with Client(build_server(ws), mode=mode) as client:
        w = await client.call_tool("write", {"path": "m/002.sql", "content": "SELECT 1;\n"})
        assert w.structured_content == {"path": "m/002.sql", "bytes_written": 10, "created": True}
        e = await client.call_tool("edit", {"path": "m/002.sql", "old": "1", "new": "2"})
        assert e.structured_content["replacements"] == 1
        r = await client.call_tool("read", {"path": "m/002.sql"})
    assert r.structured_content["content"] == "SELECT 2;\n"
    assert r.structured_content["truncated"] is False


@pytest.mark.parametrize("mode", MODES)
async def test_an_ambiguous_edit_is_a_tool_error_with_a_hint(ws: Workspace, mode: str) -> None:
    (ws.root / "a.sql").write_text("x\nx\n")
    async with Client(build_server(ws), mode=mode) as client:
        result = await client.call_tool("edit", {"path": "a.sql", "old": "x", "new": "y"})
    text = error_text(result)
    assert "ConflictError" in text and "2 times" in text and "hint:" in text
    assert (ws.root / "a.sql").read_text() == "x\nx\n"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "path", ["../ws-evil/secret.txt", "escape/secret.txt", "/etc/passwd", "{root}-evil/secret.txt"]
)
async def test_path_tricks_are_refused_through_mcp(ws: Workspace, mode: str, path: str) -> None:
    path = path.format(root=ws.root)
    async with Client(build_server(ws), mode=mode) as client:
        read = await client.call_tool("read", {"path": path})
        write = await client.call_tool("write", {"path": path, "content": "PWNED"})
    for result in (read, write):
        text = error_text(result)
        assert "PathOutsideWorkspaceError" in text and "TOP SECRET" not in text
    assert (ws.root.parent / "ws-evil" / "secret.txt").read_text() == "TOP SECRET\n"


@pytest.mark.parametrize("mode", MODES)
async def test_glob_grep_and_find_migrations(ws: Workspace, mode: str) -> None:
    async with Client(build_server(ws), mode=mode) as client:
        g = await client.call_tool("glob", {"pattern": "**/*"})
        s = await client.call_tool("grep", {"regex": "CREATE|SECRET"})
        f = await client.call_tool("find_migrations", {})
    assert g.structured_content["files"] == ["migrations/001_init.sql"]
    assert s.structured_content["matches"] == [
        {"path": "migrations/001_init.sql", "line": 1, "text": "CREATE TABLE users (id int);"}
    ]
    assert f.structured_content == {
        "sets": [
            {
                "framework": "sql",
                "directory": "migrations",
                "files": ["migrations/001_init.sql"],
                "config": None,
            }
        ],
        "truncated": False,
    }


@pytest.mark.parametrize("mode", MODES)
async def test_run_an_allowed_command_directly(ws: Workspace, mode: str) -> None:
    async with Client(build_server(ws), mode=mode) as client:
        result = await client.call_tool("run", {"command": "ls migrations"})
    out = result.structured_content
    assert out["exit_code"] == 0 and out["stdout"] == "001_init.sql\n"
    assert out["confirmed"] is False


@pytest.mark.parametrize("mode", MODES)
async def test_run_outside_the_allow_list_is_refused_until_confirmed(
    ws: Workspace, mode: str
) -> None:
    async with Client(build_server(ws), mode=mode) as client:
        first = await client.call_tool("run", {"command": "touch marker"})
        text = error_text(first)
        assert "ConfirmationRequiredError" in text
        assert not (ws.root / "marker").exists()
        # A token for `touch marker` cannot be spent on another command.
        other = await client.call_tool(
            "run", {"command": "touch other", "confirm_token": token_in(text)}
        )
        assert other.is_error and not (ws.root / "other").exists()
        again = await client.call_tool("run", {"command": "touch marker"})
        ok = await client.call_tool(
            "run", {"command": "touch marker", "confirm_token": token_in(error_text(again))}
        )
    assert not ok.is_error, ok
    assert ok.structured_content["confirmed"] is True
    assert (ws.root / "marker").exists()


@pytest.mark.parametrize("mode", MODES)
async def test_run_confirmed_by_elicitation(ws: Workspace, mode: str) -> None:
    asked: list[str] = []

    async def accept(context, params) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True})

    async with Client(build_server(ws), mode=mode, elicitation_callback=accept) as client:
        result = await client.call_tool("run", {"command": "touch marker"})
    assert not result.is_error, result
    assert asked and "touch marker" in asked[0]
    assert (ws.root / "marker").exists()


@pytest.mark.parametrize("mode", MODES)
async def test_changing_the_policy_file_needs_confirmation(ws: Workspace, mode: str) -> None:
    content = '[run]\nallow = ["rm"]\n'
    async with Client(build_server(ws), mode=mode) as client:
        first = await client.call_tool("write", {"path": "datamigration.toml", "content": content})
        assert not (ws.root / "datamigration.toml").exists()
        # The token is bound to this content: different content with it is refused.
        swapped = await client.call_tool(
            "write",
            {
                "path": "datamigration.toml",
                "content": '[run]\nallow = ["bash"]\n',
                "confirm_token": token_in(error_text(first)),
            },
        )
        assert swapped.is_error and not (ws.root / "datamigration.toml").exists()


# --- issue 10: the conftest exploit, over-long names, .GIT spellings, grep that cannot hang ---


@pytest.fixture
def venv_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pytest` on PATH is the one of the interpreter running these tests."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")


def planted_conftest(marker: Path) -> str:
    return f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"


@pytest.mark.parametrize("mode", MODES)
async def test_the_conftest_exploit_over_mcp_runs_nothing_until_confirmed(
    ws: Workspace, mode: str, tmp_path: Path, venv_on_path: None
) -> None:
    marker = tmp_path / "pwned"
    async with Client(build_server(ws), mode=mode) as client:
        written = await client.call_tool(
            "write", {"path": "conftest.py", "content": planted_conftest(marker)}
        )
        assert not written.is_error, written
        first = await client.call_tool("run", {"command": "pytest -q -s --co"})
        text = error_text(first)
        assert "ConfirmationRequiredError" in text and "workspace code" in text
        assert not marker.exists()
        ok = await client.call_tool(
            "run", {"command": "pytest -q -s --co", "confirm_token": token_in(text)}
        )
    assert not ok.is_error, ok
    assert ok.structured_content["confirmed"] is True
    assert marker.read_text() == "ran"


@pytest.mark.parametrize("mode", MODES)
async def test_a_run_token_is_void_once_the_model_changes_a_file(
    ws: Workspace, mode: str, tmp_path: Path, venv_on_path: None
) -> None:
    marker = tmp_path / "pwned"
    async with Client(build_server(ws), mode=mode) as client:
        await client.call_tool("write", {"path": "conftest.py", "content": "# harmless\n"})
        asked = await client.call_tool("run", {"command": "pytest -q --co"})
        token = token_in(error_text(asked))  # the user is shown the harmless conftest
        await client.call_tool(
            "write", {"path": "conftest.py", "content": planted_conftest(marker)}
        )
        spent = await client.call_tool("run", {"command": "pytest -q --co", "confirm_token": token})
    # The token was bound to the files the user was asked about; it buys nothing else.
    assert "not valid for this exact action" in error_text(spent)
    assert not marker.exists()


@pytest.mark.parametrize("mode", MODES)
async def test_an_over_long_name_is_a_readable_tool_error(ws: Workspace, mode: str) -> None:
    async with Client(build_server(ws), mode=mode) as client:
        for tool, args in (
            ("read", {"path": "a" * 300}),
            ("write", {"path": "a" * 300, "content": "x"}),
            ("grep", {"regex": "x", "path": "a" * 300}),
            ("glob", {"pattern": "a" * 300 + "/*"}),
        ):
            text = error_text(await client.call_tool(tool, args))
            assert "255 bytes" in text and "Shorten" in text, (tool, text)
    assert not any(len(p.name) > 255 for p in ws.root.iterdir())


@pytest.mark.parametrize("mode", MODES)
async def test_vcs_internals_are_refused_in_every_spelling_over_mcp(
    ws: Workspace, mode: str
) -> None:
    async with Client(build_server(ws), mode=mode) as client:
        for path in (".GIT/hooks/pre-commit", ".git./hooks/pre-commit", ".git /config"):
            result = await client.call_tool("write", {"path": path, "content": "#!/bin/sh\n"})
            assert "version-control" in error_text(result), path
    assert sorted(p.name for p in ws.root.iterdir()) == ["escape", "migrations"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", MODES)
async def test_grep_with_a_backtracking_pattern_answers_over_mcp(ws: Workspace, mode: str) -> None:
    (ws.root / "evil.txt").write_text("a" * 50_000 + "!\n")
    async with Client(build_server(ws), mode=mode) as client:
        result = await client.call_tool("grep", {"regex": "(a+)+$"})
        refused = await client.call_tool("grep", {"regex": r"(a)\1"})
    assert result.structured_content["matches"] == []
    assert "RE2" in error_text(refused)


@pytest.mark.parametrize("mode", MODES)
async def test_a_confirmed_pytest_runs_again_unasked_until_a_file_changes(
    ws: Workspace, mode: str, venv_on_path: None
) -> None:
    asked: list[str] = []

    async def accept(context, params) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True})

    (ws.root / "test_ok.py").write_text("def test_ok():\n    assert True\n")
    async with Client(build_server(ws), mode=mode, elicitation_callback=accept) as client:
        first = await client.call_tool("run", {"command": "pytest -q -p no:cacheprovider"})
        again = await client.call_tool("run", {"command": "pytest -q -p no:cacheprovider"})
        assert len(asked) == 1 and "workspace code" in asked[0]
        await client.call_tool("edit", {"path": "test_ok.py", "old": "True", "new": "1"})
        third = await client.call_tool("run", {"command": "pytest -q -p no:cacheprovider"})
    assert [r.structured_content["confirmed"] for r in (first, again, third)] == [True, False, True]
    assert len(asked) == 2 and "test_ok.py" in asked[1]
