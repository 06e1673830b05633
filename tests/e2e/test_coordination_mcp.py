"""The coordination tools and resources through a real MCP client, in both protocol eras."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from mcp.server import MCPServer

from datamigration.coordination.status import record_validation
from datamigration.mcp.app import build_server
from datamigration.workspace.root import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

MODES = ["auto", "legacy"]
READ_ONLY = {"status_get", "bus_read", "bus_questions", "expertise_get"}
WRITERS = {"status_update", "bus_post", "bus_answer", "adr_new", "expertise_learn"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server(workspace_dir: Path) -> MCPServer:
    return build_server(Workspace.open(workspace_dir))


async def call(client: Client, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, args)
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None
    return result.structured_content


async def refused(client: Client, name: str, args: dict[str, Any]) -> str:
    result = await client.call_tool(name, args)
    assert result.is_error
    return result.content[0].text


@pytest.mark.parametrize("mode", MODES)
async def test_annotations_say_which_tools_only_read(server: MCPServer, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    for name in READ_ONLY | WRITERS:
        hints = tools[name].annotations
        assert hints.read_only_hint is (name in READ_ONLY), name
        if name in WRITERS:  # (the hint means something only for a tool that writes)
            assert hints.destructive_hint is False, name  # nothing here overwrites or deletes
        assert tools[name].output_schema["type"] == "object"
    assert tools["status_update"].annotations.idempotent_hint is True
    assert tools["bus_post"].annotations.idempotent_hint is False


@pytest.mark.parametrize("mode", MODES)
async def test_story_lifecycle_with_the_harness_rule(
    server: MCPServer, workspace_dir: Path, mode: str
) -> None:
    async with Client(server, mode=mode) as client:
        made = await call(
            client,
            "status_update",
            {"story": "US-0042", "title": "Migrate user_profiles", "status": "in-progress"},
        )
        assert made["created"] and made["status"] == "in-progress"
        text = await refused(client, "status_update", {"story": "US-0042", "status": "in-review"})
        assert "HarnessRuleError" in text and "hint:" in text
        text = await refused(
            client, "status_update", {"story": "US-0042", "fields": {"test_status": "passing"}}
        )
        assert "UserInputError" in text
        record_validation(Workspace.open(workspace_dir), "US-0042", True, "100% record match")
        moved = await call(client, "status_update", {"story": "US-0042", "status": "in-review"})
        assert moved["previous_status"] == "in-progress" and moved["status"] == "in-review"
        again = await call(client, "status_update", {"story": "US-0042", "status": "in_review"})
        assert again["changed"] is False
        board = await call(client, "status_get", {"status": "in-review"})
        assert [s["id"] for s in board["stories"]] == ["US-0042"]
        assert board["counts_by_status"] == {"in-review": 1} and board["truncated"] is False
        statuses = await call(client, "bus_read", {"type": "status", "story": "US-0042"})
        # The recorded validation (a `status` without a story status), then the move.
        validated, moved_msg = statuses["messages"]
        assert validated["text"].startswith("Data validation complete for US-0042: passed")
        assert "status" not in validated["extra"] and moved_msg["extra"]["status"] == "in-review"
        assert statuses["untrusted_data"] is True


@pytest.mark.parametrize("mode", MODES)
async def test_an_override_is_posted_as_a_warning(server: MCPServer, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        await call(
            client, "status_update", {"story": "US-1", "title": "t", "status": "in_progress"}
        )
        text = await refused(
            client, "status_update", {"story": "US-1", "status": "in-review", "override_reason": ""}
        )
        assert "reason" in text
        await call(
            client,
            "status_update",
            {"story": "US-1", "status": "in-review", "override_reason": "validator offline"},
        )
        warnings = await call(client, "bus_read", {"type": "warning"})
        assert "validator offline" in warnings["messages"][0]["text"]


@pytest.mark.parametrize("mode", MODES)
async def test_status_get_caps_long_boards(server: MCPServer, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        for i in range(3):
            await call(client, "status_update", {"story": f"US-{i}", "title": f"s{i}"})
        page = await call(client, "status_get", {"limit": 2})
        assert page["count"] == 2 and page["truncated"] is True
        one = await call(client, "status_get", {"story": "US-2"})
        assert one["stories"][0]["title"] == "s2"
        assert "NotFoundError" in await refused(client, "status_get", {"story": "US-9"})


@pytest.mark.parametrize("mode", MODES)
async def test_questions_are_answered_once(
    server: MCPServer, workspace_dir: Path, mode: str
) -> None:
    log = workspace_dir / "bus" / "log.jsonl"
    log.parent.mkdir()
    log.write_text(
        '{"timestamp":"2025-06-02T09:00:00Z","from":"AG-DATABASE","to":"AG-DATAMIGRATION",'
        '"type":"question","story_id":"US-1","message":"New indexes needed?"}\n'
    )
    async with Client(server, mode=mode) as client:
        qs = await call(client, "bus_questions", {})
        assert qs["count"] == 1 and qs["questions"][0]["text"] == "New indexes needed?"
        answer = await call(
            client,
            "bus_answer",
            {"question_id": qs["questions"][0]["id"], "text": "One, on email."},
        )
        assert answer["message"]["to"] == "AG-DATABASE"
        assert answer["message"]["extra"]["re"] == qs["questions"][0]["id"]
        assert (await call(client, "bus_questions", {}))["count"] == 0
        text = await refused(
            client, "bus_answer", {"question_id": qs["questions"][0]["id"], "text": "x"}
        )
        assert "ConflictError" in text
        posted = await call(
            client, "bus_post", {"type": "finding", "text": "Backfill done", "to": "ALL"}
        )
        assert posted["message"]["from"] == "AG-DATAMIGRATION"
    lines = log.read_text().splitlines()
    assert all(json.loads(line) for line in lines) and len(lines) == 3


@pytest.mark.parametrize("mode", MODES)
async def test_an_agileflow_style_question_is_found_and_answered_by_the_id_in_its_line(
    server: MCPServer, workspace_dir: Path, mode: str
) -> None:
    log = workspace_dir / "bus" / "log.jsonl"
    log.parent.mkdir()
    log.write_text(
        '{"ts":"2025-06-02T09:00:00Z","id":"q-17","from":"AG-API","type":"question",'
        '"text":"AG-DATAMIGRATION: is the orders cutover tonight?"}\n'
    )
    async with Client(server, mode=mode) as client:
        qs = await call(client, "bus_questions", {})
        assert [q["id"] for q in qs["questions"]] == ["q-17"]
        await call(client, "bus_answer", {"question_id": "q-17", "text": "Yes, 22:00 UTC."})
        assert (await call(client, "bus_questions", {}))["count"] == 0
        posted = await call(client, "bus_post", {"type": "question", "text": "AG-QA: ready?"})
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["id"] == posted["message"]["id"]


@pytest.mark.parametrize("mode", MODES)
async def test_expertise_get_on_a_new_workspace_answers_with_the_packaged_default(
    server: MCPServer, workspace_dir: Path, mode: str
) -> None:
    async with Client(server, mode=mode) as client:
        got = await call(client, "expertise_get", {})
        assert got["exists"] is False and got["expertise"]["domain"] == "datamigration"
        assert "no expertise file yet" in got["warnings"][0]
        one = await call(client, "expertise_get", {"section": "migration_checklist"})
        assert list(one["expertise"]) == ["migration_checklist"]
    assert not (workspace_dir / "expertise").exists()


@pytest.mark.parametrize("mode", MODES)
async def test_adr_and_expertise_tools(server: MCPServer, workspace_dir: Path, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        made = await call(
            client,
            "adr_new",
            {"title": "Expand-contract for orders", "decision": "Add, backfill, switch, drop."},
        )
        assert made["path"] == "docs/03-decisions/adr-0001-expand-contract-for-orders.md"
        assert "ConflictError" in await refused(
            client, "adr_new", {"title": "Expand contract for orders"}
        )
        learned = await call(
            client, "expertise_learn", {"context": "orders", "insight": "Batch 5k rows."}
        )
        assert learned["path"] == "expertise/datamigration.yaml"
        got = await call(client, "expertise_get", {"section": "learnings"})
        assert got["expertise"]["learnings"][0]["insight"] == "Batch 5k rows."
        (workspace_dir / "expertise" / "datamigration.yaml").write_text("domain: x\nversion: [\n")
        text = await refused(client, "expertise_get", {})
        assert "FileFormatError" in text and "datamigration.yaml:3" in text


@pytest.mark.parametrize("mode", MODES)
async def test_resources_show_the_board_the_bus_and_the_expertise(
    server: MCPServer, workspace_dir: Path, mode: str
) -> None:
    async with Client(server, mode=mode) as client:
        await call(client, "status_update", {"story": "US-7", "title": "Seven"})
        uris = {str(r.uri) for r in (await client.list_resources()).resources}
        assert {"status://stories", "bus://log", "expertise://datamigration"} <= uris
        board = json.loads((await client.read_resource("status://stories")).contents[0].text)
        assert board["stories"] == [{"id": "US-7", "title": "Seven", "status": "ready"}]
        log = (await client.read_resource("bus://log")).contents[0].text
        assert json.loads(log.splitlines()[-1])["type"] == "story-created"
        text = (await client.read_resource("expertise://datamigration")).contents[0].text
        assert text.startswith("# no expertise file yet")
        (workspace_dir / "status.json").write_text("{oops")
        shown = (await client.read_resource("status://stories")).contents[0].text
        assert shown.startswith("FileFormatError") and "status.json:1" in shown
