"""The three MCP prompts: listed in both protocol eras, rendered with their arguments, and kept
identical to the plugin's slash commands (one text, two faces)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mcp.client import Client
from mcp.server import MCPServer

from datamigration.mcp import prompts
from datamigration.mcp.prompts import PROMPT_NAMES, load_prompt

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server() -> MCPServer:
    server = MCPServer("prompts-test")
    prompts.register(server, runtime=None)
    return server


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_three_prompts_are_listed_with_their_arguments(
    server: MCPServer, mode: str
) -> None:
    async with Client(server, mode=mode) as client:
        listed = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(listed) == {"plan-migration", "migration-status", "adr-new"}
    for prompt in listed.values():
        assert prompt.description
    required = {
        name: sorted(a.name for a in p.arguments or [] if a.required) for name, p in listed.items()
    }
    assert required == {"plan-migration": ["request"], "migration-status": [], "adr-new": ["title"]}


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_prompt_renders_its_arguments_into_the_command_text(
    server: MCPServer, mode: str
) -> None:
    async with Client(server, mode=mode) as client:
        plan = await client.get_prompt(
            "plan-migration", {"request": "rename users.email to email_address", "story": "US-7"}
        )
        status = await client.get_prompt("migration-status", {})
        update = await client.get_prompt(
            "migration-status", {"story": "US-7", "status": "in-review", "summary": "rows match"}
        )
        adr = await client.get_prompt("adr-new", {"title": "Use dual-write for orders"})
    plan_text = plan.messages[0].content.text
    assert "rename users.email to email_address --story US-7" in plan_text
    assert "$ARGUMENTS" not in plan_text
    for tool in ("inspect", "lint_migration", "plan_migration", "status_update", "adr_new"):
        assert f"`{tool}`" in plan_text
    assert "`status_get`" in status.messages[0].content.text
    update_text = update.messages[0].content.text
    assert 'STORY=US-7 STATUS=in-review SUMMARY="rows match"' in update_text
    assert "`status_update`" in update_text
    assert "Use dual-write for orders" in adr.messages[0].content.text


@pytest.mark.parametrize("name", PROMPT_NAMES)
def test_each_prompt_is_the_plugin_command_verbatim(name: str) -> None:
    packaged = (REPO / "server/datamigration/data/prompts" / f"{name}.md").read_text()
    command = (REPO / "commands" / f"{name}.md").read_text()
    assert packaged == command, (
        f"commands/{name}.md and the MCP prompt differ: copy commands/{name}.md to "
        f"server/datamigration/data/prompts/{name}.md"
    )


@pytest.mark.parametrize("name", PROMPT_NAMES)
def test_the_front_matter_gives_description_and_argument_hint(name: str) -> None:
    text = load_prompt(name)
    assert text.description and text.argument_hint
    assert "$ARGUMENTS" in text.body
    assert not text.body.startswith("---")


@pytest.mark.parametrize("name", PROMPT_NAMES)
def test_every_tool_a_prompt_names_is_a_documented_tool(name: str) -> None:
    """Catches a renamed or misspelt tool in the command text (planned tools are documented)."""
    docs = (REPO / "docs" / "mcp.md").read_text()
    documented = set(re.findall(r"^\|\s*`([a-z_]+)`\s*\|", docs, flags=re.MULTILINE))
    named = set(re.findall(r"`([a-z][a-z_]*)`", load_prompt(name).body))
    assert named, name
    assert named <= documented, f"{name} names undocumented tools: {sorted(named - documented)}"


def test_no_command_takes_the_name_of_a_claude_code_builtin() -> None:
    """Claude Code's built-in commands win: a plugin `/status` would never run (issue 10, 13)."""
    builtins = {"status", "help", "clear", "config", "cost", "doctor", "init", "login", "logout"}
    builtins |= {"mcp", "memory", "model", "plugin", "review", "agents", "compact", "resume"}
    names = {p.stem for p in (REPO / "commands").glob("*.md")} | set(PROMPT_NAMES)
    assert not names & builtins, sorted(names & builtins)


def test_no_prompt_asks_the_model_to_post_again_what_a_tool_already_posted() -> None:
    # adr_new posts `adr-created` and plan_migration posts the plan announcement themselves;
    # a prompt that also asks for a bus_post announces everything twice.
    adr = (REPO / "commands" / "adr-new.md").read_text()
    assert "bus_post" not in adr and "already posted the `adr-created`" in adr
    plan = (REPO / "commands" / "plan-migration.md").read_text()
    assert "plan announcement" not in plan and "`plan_migration` already posted it" in plan
