"""The flag tools through a real in-process MCP client: annotations, confirmation, kill switch."""

from __future__ import annotations

import re
from pathlib import Path

import mcp_types as types
import pytest
from mcp.client import Client

from datamigration.mcp.app import build_server
from datamigration.safety import flags
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.anyio
FLAG = "new-email-column"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def ws(workspace_dir: Path) -> Workspace:
    ws = Workspace.open(workspace_dir)
    flags.set_flag(ws, FLAG)
    return ws


class Accept:
    def __init__(self) -> None:
        self.questions: list[str] = []

    async def __call__(self, context, params) -> types.ElicitResult:
        self.questions.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True})


async def test_the_tools_carry_the_annotations_their_effects_deserve(ws):
    async with Client(build_server(ws)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert tools["flags_get"].annotations.read_only_hint is True
    for name in ("flags_rollout", "flags_rollback"):
        hints = tools[name].annotations
        assert hints.read_only_hint is False and hints.destructive_hint is False
        assert hints.idempotent_hint is True
        assert tools[name].output_schema["type"] == "object"


async def test_flags_get_lists_the_flag_with_its_percent(ws):
    async with Client(build_server(ws)) as client:
        result = await client.call_tool("flags_get", {})
    assert not result.is_error
    listed = result.structured_content
    assert listed["path"] == "flags/flags.flagd.json" and listed["truncated"] is False
    assert [(f["key"], f["percent"]) for f in listed["flags"]] == [(FLAG, 0)]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_rollout_waits_for_a_confirm_token_bound_to_the_step(ws, mode):
    async with Client(build_server(ws), mode=mode) as client:
        first = await client.call_tool("flags_rollout", {"flag": FLAG, "percent": 1})
        assert first.is_error
        text = first.content[0].text
        assert "0% to 1%" in text
        assert flags.get_flag(ws, FLAG)["percent"] == 0
        token = re.search(r"confirm_token='(cfm-[^']+)'", text).group(1)
        # The token is for 0 -> 1%; it does not authorise another step.
        other = await client.call_tool(
            "flags_rollout",
            {"flag": FLAG, "percent": 10, "skip_steps": True, "confirm_token": token},
        )
        assert other.is_error and flags.get_flag(ws, FLAG)["percent"] == 0
        second = await client.call_tool(
            "flags_rollout", {"flag": FLAG, "percent": 1, "confirm_token": token}
        )
    assert not second.is_error, second
    assert second.structured_content["to_percent"] == 1
    assert flags.get_flag(ws, FLAG)["percent"] == 1


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_rollout_confirmed_by_elicitation_then_rollback_without_asking(ws, mode):
    answers = Accept()
    async with Client(build_server(ws), mode=mode, elicitation_callback=answers) as client:
        up = await client.call_tool("flags_rollout", {"flag": FLAG, "percent": 1})
        assert not up.is_error, up
        assert len(answers.questions) == 1 and FLAG in answers.questions[0]
        down = await client.call_tool("flags_rollback", {"flag": FLAG})
    assert not down.is_error, down
    assert down.structured_content["serving"] == "off"
    assert len(answers.questions) == 1  # rollback did not ask
    assert flags.get_flag(ws, FLAG)["percent"] == 0


async def test_an_ungated_step_up_from_a_live_step_is_refused_with_a_hint(ws):
    flags.rollout(ws, FLAG, 1)
    async with Client(build_server(ws), elicitation_callback=Accept()) as client:
        result = await client.call_tool("flags_rollout", {"flag": FLAG, "percent": 10})
    assert result.is_error
    text = result.content[0].text
    assert "needs a gate" in text and "`rules`" in text and "--gate" not in text  # MCP wording
    assert flags.get_flag(ws, FLAG)["percent"] == 1
