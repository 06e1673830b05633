"""Confirmation end to end through a real in-process MCP client, in both protocol eras.

A throwaway destructive tool is registered on a bare server with the same `tool` decorator and
`confirm` helper the product tools use; it records what it did, so every test can assert that
nothing happened unless the user agreed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TypedDict

import mcp_types as types
import pytest
from mcp.client import Client
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError

from datamigration.confirmation import Action, ConfirmationBroker
from datamigration.mcp.app import Runtime, build_server
from datamigration.mcp.confirm import confirm
from datamigration.mcp.tooling import tool
from datamigration.workspace.root import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

MODES = ["auto", "legacy"]  # auto negotiates 2026-07-28 with the in-process server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Dropped(TypedDict):
    dropped: str


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_server(workspace_dir: Path, clock: Clock | None = None) -> tuple[MCPServer, list[str]]:
    server = MCPServer("confirm-test")
    broker = ConfirmationBroker(ttl_seconds=60, clock=clock or Clock())
    runtime = Runtime(workspace=Workspace.open(workspace_dir), confirmations=broker)
    done: list[str] = []

    @tool(server, read_only=False, destructive=True, title="Drop a table")
    async def drop_table(table: str, ctx: Context, confirm_token: str | None = None) -> Dropped:
        """Drop a table (test double: records the drop instead of doing it)."""
        action = Action("drop_table", f"drop table {table}", {"table": table})
        await confirm(ctx, runtime, action, confirm_token)
        done.append(table)
        return {"dropped": table}

    return server, done


class Answers:
    """An elicitation callback that answers with a fixed action and records what it was asked."""

    def __init__(self, action: str, content: dict | None = None) -> None:
        self.action = action
        self.content = content if content is not None else {"confirm": True}
        self.questions: list[str] = []

    async def __call__(self, context, params) -> types.ElicitResult:
        self.questions.append(params.message)
        if self.action == "accept":
            return types.ElicitResult(action="accept", content=self.content)
        return types.ElicitResult(action=self.action)


def error_text(result: types.CallToolResult) -> str:
    assert result.is_error, result
    return result.content[0].text


def token_in(text: str) -> str:
    found = re.search(r"confirm_token='(cfm-[^']+)'", text)
    assert found, text
    return found.group(1)


@pytest.mark.parametrize("mode", MODES)
async def test_an_accepted_elicitation_lets_the_tool_act(workspace_dir: Path, mode: str) -> None:
    server, done = make_server(workspace_dir)
    answers = Answers("accept")
    async with Client(server, mode=mode, elicitation_callback=answers) as client:
        result = await client.call_tool("drop_table", {"table": "users"})
    assert not result.is_error, result
    assert result.structured_content == {"dropped": "users"}
    assert done == ["users"]
    assert len(answers.questions) == 1
    assert "drop table users" in answers.questions[0]


@pytest.mark.parametrize("how", ["decline", "cancel"])
@pytest.mark.parametrize("mode", MODES)
async def test_a_declined_elicitation_does_nothing_and_issues_no_token(
    workspace_dir: Path, mode: str, how: str
) -> None:
    server, done = make_server(workspace_dir)
    async with Client(server, mode=mode, elicitation_callback=Answers(how)) as client:
        result = await client.call_tool("drop_table", {"table": "users"})
    text = error_text(result)
    assert "declined by the user" in text
    assert "Nothing was done" in text
    assert "cfm-" not in text
    assert done == []


@pytest.mark.parametrize("mode", MODES)
async def test_accepting_with_the_box_unticked_counts_as_a_refusal(
    workspace_dir: Path, mode: str
) -> None:
    server, done = make_server(workspace_dir)
    answers = Answers("accept", content={"confirm": False})
    async with Client(server, mode=mode, elicitation_callback=answers) as client:
        result = await client.call_tool("drop_table", {"table": "users"})
    assert "declined by the user" in error_text(result)
    assert done == []


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_without_elicitation_gets_a_token_and_nothing_happens_until_it_is_sent(
    workspace_dir: Path, mode: str
) -> None:
    server, done = make_server(workspace_dir)
    async with Client(server, mode=mode) as client:
        first = await client.call_tool("drop_table", {"table": "users"})
        text = error_text(first)
        assert "ConfirmationRequiredError" in text
        assert "hint:" in text
        assert done == []
        token = token_in(text)
        second = await client.call_tool("drop_table", {"table": "users", "confirm_token": token})
        assert not second.is_error, second
        assert done == ["users"]
        # single use: the same token does not confirm a second drop
        third = await client.call_tool("drop_table", {"table": "users", "confirm_token": token})
        assert "not valid for this exact action" in error_text(third)
    assert done == ["users"]


@pytest.mark.parametrize("mode", MODES)
async def test_a_token_for_one_action_does_not_confirm_another(
    workspace_dir: Path, mode: str
) -> None:
    server, done = make_server(workspace_dir)
    async with Client(server, mode=mode) as client:
        token = token_in(error_text(await client.call_tool("drop_table", {"table": "users"})))
        wrong = await client.call_tool("drop_table", {"table": "orders", "confirm_token": token})
        assert "not valid for this exact action" in error_text(wrong)
        assert done == []
        # the token was not burnt by the mix-up: it still confirms its own action
        right = await client.call_tool("drop_table", {"table": "users", "confirm_token": token})
        assert not right.is_error, right
    assert done == ["users"]


@pytest.mark.parametrize("mode", MODES)
async def test_an_expired_token_is_refused(workspace_dir: Path, mode: str) -> None:
    clock = Clock()
    server, done = make_server(workspace_dir, clock)
    async with Client(server, mode=mode) as client:
        token = token_in(error_text(await client.call_tool("drop_table", {"table": "users"})))
        clock.now += 61
        late = await client.call_tool("drop_table", {"table": "users", "confirm_token": token})
        text = error_text(late)
        assert "not valid for this exact action" in text
        assert token_in(text) != token  # a fresh token is offered instead
    assert done == []


async def test_a_modern_answer_counts_once_and_only_for_the_same_call(workspace_dir: Path) -> None:
    """2026-07-28: the answer rides back with the retry; it cannot be moved to other arguments
    (the SDK's sealed request state refuses that) nor replayed (our broker spends it)."""
    server, done = make_server(workspace_dir)
    async with Client(server, elicitation_callback=Answers("accept")) as client:
        first = await client.session.call_tool(
            "drop_table", {"table": "users"}, allow_input_required=True
        )
        assert isinstance(first, types.InputRequiredResult)
        (key,) = first.input_requests
        accepted = {key: types.ElicitResult(action="accept", content={"confirm": True})}
        with pytest.raises(MCPError):
            await client.session.call_tool(
                "drop_table",
                {"table": "orders"},
                input_responses=accepted,
                request_state=first.request_state,
                allow_input_required=True,
            )
        assert done == []
        same = await client.session.call_tool(
            "drop_table",
            {"table": "users"},
            input_responses=accepted,
            request_state=first.request_state,
            allow_input_required=True,
        )
        assert isinstance(same, types.CallToolResult) and not same.is_error, same
        replay = await client.session.call_tool(
            "drop_table",
            {"table": "users"},
            input_responses=accepted,
            request_state=first.request_state,
            allow_input_required=True,
        )
        assert isinstance(replay, types.InputRequiredResult)  # the answer was single-use
    assert done == ["users"]


async def test_confirm_outside_a_request_falls_back_to_a_token(workspace_dir: Path) -> None:
    server, done = make_server(workspace_dir)
    with pytest.raises(ToolError, match="confirm_token='cfm-"):
        await server.call_tool("drop_table", {"table": "users"})
    assert done == []


async def test_a_client_that_claims_elicitation_but_fails_to_ask_gets_a_token(
    workspace_dir: Path,
) -> None:
    """Handshake era: the client advertises elicitation, then errors; we fall back, never act."""
    server, done = make_server(workspace_dir)

    async def broken(context, params) -> types.ErrorData:
        return types.ErrorData(code=types.INVALID_REQUEST, message="no UI available")

    async with Client(server, mode="legacy", elicitation_callback=broken) as client:
        result = await client.call_tool("drop_table", {"table": "users"})
        token = token_in(error_text(result))
        assert done == []
        again = await client.call_tool("drop_table", {"table": "users", "confirm_token": token})
        assert not again.is_error, again
    assert done == ["users"]


# The product's own `run` tool (workspace engine) confirms commands outside its allow-list.


@pytest.mark.parametrize("mode", MODES)
async def test_run_outside_the_allow_list_acts_only_after_the_user_accepts(
    workspace_dir: Path, mode: str
) -> None:
    server = build_server(Workspace.open(workspace_dir))
    marker = workspace_dir / "made-by-run"
    async with Client(server, mode=mode, elicitation_callback=Answers("decline")) as client:
        refused = await client.call_tool("run", {"command": "touch made-by-run"})
    assert "declined by the user" in error_text(refused)
    assert not marker.exists()
    answers = Answers("accept")
    async with Client(server, mode=mode, elicitation_callback=answers) as client:
        done = await client.call_tool("run", {"command": "touch made-by-run"})
    assert not done.is_error, done
    assert marker.exists()
    assert "touch made-by-run" in answers.questions[0]


@pytest.mark.parametrize("mode", MODES)
async def test_run_without_elicitation_needs_the_token_for_that_exact_command(
    workspace_dir: Path, mode: str
) -> None:
    server = build_server(Workspace.open(workspace_dir))
    async with Client(server, mode=mode) as client:
        first = await client.call_tool("run", {"command": "touch a-file"})
        token = token_in(error_text(first))
        other = await client.call_tool("run", {"command": "touch b-file", "confirm_token": token})
        assert "not valid for this exact action" in error_text(other)
        assert not (workspace_dir / "a-file").exists() and not (workspace_dir / "b-file").exists()
        ok = await client.call_tool("run", {"command": "touch a-file", "confirm_token": token})
        assert not ok.is_error, ok
    assert (workspace_dir / "a-file").exists() and not (workspace_dir / "b-file").exists()
