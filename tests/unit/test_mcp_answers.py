"""The MCP layer's answer guard, argument names and hint wording, without a database.

The guard (`datamigration.mcp.answers`) is the one place an answer is cut to the budget; the
hints translator (`datamigration.mcp.hints`) is the one place CLI wording becomes MCP wording.
Every hint literal of the package is run through it here, so a new hint phrased for the terminal
cannot reach a model as a `--flag` it has no way to pass.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from mcp.server import MCPServer
from typing_extensions import TypedDict

from datamigration.errors import UserInputError
from datamigration.mcp.answers import ANSWER_BUDGET_CHARS, dumps, fit_answer
from datamigration.mcp.app import build_server
from datamigration.mcp.hints import for_mcp, message_for_mcp
from datamigration.mcp.tooling import tool
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.anyio

PACKAGE = Path(__file__).resolve().parents[2] / "server" / "datamigration"
CLI_FLAG = re.compile(r"(?:^|[\s(`'\"/])--[a-z]")
CLI_COMMAND = re.compile(r"\bdatamigration (?:plan|lint|execute|rollback|inspect|query|validate)\b")
#: The names a database argument may have: one for "a database", two for a comparison, and the
#: two roles that are not "the" database of the call.
CANONICAL_DATABASE_ARGS = {"db", "source", "target", "staging", "probe_db"}
NON_CANONICAL = re.compile(r"(^|_)(database|url|dsn|conn|connection)s?($|_)")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server(workspace_dir: Path) -> MCPServer:
    return build_server(Workspace.open(workspace_dir))


# -- the guard -------------------------------------------------------------------------------


def test_an_answer_within_the_budget_is_returned_untouched() -> None:
    payload = {"rows": [[1, "a"]] * 10, "truncated": False}
    assert fit_answer(payload, "query", "offset") is payload


def test_an_answer_over_the_budget_is_cut_biggest_field_first_and_says_how_to_get_the_rest() -> (
    None
):
    payload = {
        "title": "small",
        "rows": [[i, "x" * 50] for i in range(5000)],
        "log": "y" * 10_000,
        "truncated": False,
    }
    cut = fit_answer(payload, "query", "offset=<next row>")
    assert len(dumps(cut)) <= ANSWER_BUDGET_CHARS
    assert cut["truncated"] is True
    assert cut["next"].endswith("call query again with offset=<next row>")
    assert cut["title"] == "small" and cut["log"] == payload["log"]  # the small fields stay
    assert cut["rows"] == payload["rows"][: len(cut["rows"])]  # the head of the list, in order
    assert 0 < len(cut["rows"]) < 5000


def test_one_value_bigger_than_the_budget_is_cut_inside_it() -> None:
    payload = {"rows": [["z" * 500_000]], "truncated": False}
    cut = fit_answer(payload, "query", None)
    assert len(dumps(cut)) <= ANSWER_BUDGET_CHARS
    assert cut["rows"][0][0].startswith("zzz") and cut["rows"][0][0].endswith("…[cut]")
    assert cut["next"].endswith("narrow the query call")


class Nothing(TypedDict):
    ok: bool


class HugeOutput(TypedDict):
    items: list[str]
    truncated: bool


async def test_a_tool_registered_through_the_wrapper_cannot_answer_over_the_budget(
    server: MCPServer,
) -> None:
    @tool(server, read_only=True, name="huge", pages="offset")
    def huge() -> HugeOutput:
        """Returns far more than one answer holds."""
        return {"items": [f"item {i} " + "x" * 100 for i in range(10_000)], "truncated": False}

    async with Client(server) as client:
        result = await client.call_tool("huge", {})
    out = result.structured_content
    assert len(result.content) == 1 and json.loads(result.content[0].text) == out
    assert "\n" not in result.content[0].text  # compact, not pretty-printed
    assert len(result.content[0].text) <= ANSWER_BUDGET_CHARS
    assert out["truncated"] is True and "call huge again with offset" in out["next"]


# -- one name for a database -----------------------------------------------------------------


async def test_no_tool_names_a_database_argument_other_than_db_source_target(
    server: MCPServer,
) -> None:
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
    wrong = []
    for listed in tools:
        for name, prop in listed.input_schema["properties"].items():
            about_a_database = re.search(
                r"database url|connection name", str(prop.get("description", "")), re.IGNORECASE
            )
            if NON_CANONICAL.search(name) or (
                about_a_database and name not in CANONICAL_DATABASE_ARGS
            ):
                wrong.append(f"{listed.name}.{name}")
    assert not wrong, f"database arguments must be one of {CANONICAL_DATABASE_ARGS}: {wrong}"


# -- hints name tools and arguments ----------------------------------------------------------


def hint_literals() -> list[tuple[str, str]]:
    """Every hint text written in the package: `hint=` arguments, `default_hint`, *_HINT."""
    found: list[tuple[str, str]] = []

    def text_of(node: ast.AST) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            return "".join(text_of(v) or "X" for v in node.values)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = text_of(node.left), text_of(node.right)
            return None if left is None or right is None else left + right
        return None

    for path in PACKAGE.rglob("*.py"):
        if "cli" in path.relative_to(PACKAGE).parts:
            continue  # the CLI prints its own errors for a terminal
        for node in ast.walk(ast.parse(path.read_text())):
            values: list[ast.AST] = []
            if (
                isinstance(node, ast.keyword)
                and node.arg == "hint"
                or isinstance(node, ast.Assign)
                and any(
                    isinstance(t, ast.Name) and ("HINT" in t.id or t.id == "default_hint")
                    for t in node.targets
                )
            ):
                values.append(node.value)
            for value in values:
                text = text_of(value)
                if text:
                    found.append((f"{path.name}:{value.lineno}", text))
    return found


def test_the_package_has_hints_written_for_the_terminal_to_translate() -> None:
    terminal = [text for _, text in hint_literals() if CLI_FLAG.search(text)]
    assert len(terminal) >= 10  # the scan finds them, so the next test is not vacuous


def test_no_hint_reaches_the_model_with_a_cli_flag_a_cli_command_or_a_package_path() -> None:
    bad = []
    for where, text in hint_literals():
        shown = for_mcp(text)
        if CLI_FLAG.search(shown) or CLI_COMMAND.search(shown) or "schemas/" in shown:
            bad.append(f"{where}: {shown}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    ("cli", "mcp"),
    [
        ("Pass --staging URL, or --db URL to copy.", "Pass `staging`, or `db` to copy."),
        (
            "Run them first (datamigration execute p1 --hash abc --step s01), or run --all.",
            (
                "Run them first (the `execute` tool with plan_id=p1, plan_hash=abc, step=s01), "
                "or run `all_steps`."
            ),
        ),
        ("Confirm to run it (CLI: --yes), or add it.", "Confirm to run it, or add it."),
        (
            "Give it: --lag 30 on the CLI, lag_seconds=30 in the tool.",
            "Give it: lag_seconds=30 in the tool.",
        ),
        (
            "Fix the spec (schemas/change-spec.schema.json lists every kind)",
            "Fix the spec (the MCP resource schema://change-spec lists every kind)",
        ),
    ],
)
def test_cli_wording_becomes_tool_arguments(cli: str, mcp: str) -> None:
    assert for_mcp(cli) == mcp


async def test_a_bad_spec_points_to_a_resource_the_client_can_read(server: MCPServer) -> None:
    async with Client(server) as client:
        result = await client.call_tool(
            "plan_migration", {"spec": {"kind": "rename_colum"}, "db": "sqlite:///x.db"}
        )
        assert result.is_error
        text = result.content[0].text
        assert "schema://change-spec" in text and "schemas/" not in text
        schema = await client.read_resource("schema://change-spec")
    kinds = json.loads(schema.contents[0].text)["properties"]["kind"]["enum"]
    assert "rename_column" in kinds


async def test_errors_raised_with_cli_wording_reach_the_model_without_it(
    server: MCPServer,
) -> None:
    def fails() -> Any:
        raise UserInputError(
            "rollback takes --step or --all, not --phase",
            hint="Pass --db URL (or a connection name); see datamigration inspect --db URL.",
        )

    @tool(server, read_only=True, name="fails_like_the_cli")
    def fails_like_the_cli() -> Nothing:
        """Raises an engine error written for the terminal."""
        return fails()

    async with Client(server) as client:
        lint = await client.call_tool(
            "lint_migration", {"sql": "SELECT 1;", "db": "sqlite:///x.db", "trace": True}
        )
        cli = await client.call_tool("fails_like_the_cli", {})
    for result in (lint, cli):
        assert result.is_error
        text = result.content[0].text
        assert "hint:" in text and not CLI_FLAG.search(text), text
    assert "`step` or `all_steps`, not `phase`" in cli.content[0].text
    assert "`db`" in cli.content[0].text and "the `inspect` tool" in cli.content[0].text


def test_a_message_keeps_what_the_caller_sent_exactly() -> None:
    message = "cannot read --since '--yesterday' in `datamigration lint --db x`"
    assert (
        message_for_mcp(message)
        == "cannot read `since` '--yesterday' in `datamigration lint --db x`"
    )


async def test_a_confirmation_shows_the_exact_command_the_user_is_asked_about(
    server: MCPServer,
) -> None:
    command = "datamigration lint --db sqlite:///x.db migrations"
    async with Client(server) as client:
        result = await client.call_tool("run", {"command": command, "shell": True})
    assert result.is_error
    message, hint = result.content[0].text.split("\nhint: ", 1)
    assert command in message  # not rewritten into tool wording
    assert "confirm_token=" in hint and not CLI_FLAG.search(hint)


@pytest.mark.parametrize(
    "token",
    ["cfm-ab--db-Q1_x-0f3a", "cfm---yes-Zz-9e1", "cfm-x--hash-y--step-s02-77aa", "cfm-a_b--c"],
)
def test_a_confirm_token_in_a_hint_survives_the_rewrite_whatever_its_random_letters(
    token: str,
) -> None:
    # Tokens are url-safe base64: a random `--db` or `--yes` inside one was rewritten into an
    # argument name, and the model's second call carried a token that no longer existed.
    from datamigration.errors import ConfirmationRequiredError
    from datamigration.mcp.tooling import as_tool_error

    hint = f"Nothing was done. Call the same tool again with confirm_token='{token}' (once)."
    text = str(as_tool_error(ConfirmationRequiredError("confirmation needed", hint=hint)))
    assert f"confirm_token='{token}'" in text
    assert token in for_mcp(f"again with confirm_token={token} now")
