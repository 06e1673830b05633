"""Scripted MCP session: "rename users.email to email_address with zero downtime", from the spec
to in-review, through a real MCP client, with the confirmation flow in both modes.

The client plans with `plan_migration`, shows a dry run, runs each phase with `execute`
(confirming through elicitation when the client supports it, or through the confirm token when
it does not), watches `run_status`, validates with `validate`, and the story reaches in-review
only through the harness rule (refused before the validation passed). An application keeps
writing through the old column name during the migration; every row arrives intact.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import mcp_types as types
import psycopg
import pytest
from mcp.client import Client

from datamigration.mcp.app import build_server
from datamigration.workspace.root import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.anyio]

STORY = "US-0042"
SPEC = {
    "kind": "rename_column",
    "table": "users",
    "column": "email",
    "new_name": "email_address",
    "title": "Rename users.email to email_address",
}
ROWS = 5000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Answers:
    """The user, answering elicitation questions: accepts, and remembers what was asked."""

    def __init__(self) -> None:
        self.questions: list[str] = []

    async def __call__(self, context, params) -> types.ElicitResult:
        self.questions.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True})


async def call(
    client: Client, name: str, args: dict[str, Any], progress: list[str] | None = None
) -> dict[str, Any]:
    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    result = await client.call_tool(
        name, args, progress_callback=on_progress if progress is not None else None
    )
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def refused(client: Client, name: str, args: dict[str, Any]) -> str:
    result = await client.call_tool(name, args)
    assert result.is_error, result
    return result.content[0].text


async def confirmed(
    client: Client,
    answers: Answers | None,
    name: str,
    args: dict[str, Any],
    progress: list[str] | None = None,
):
    """Call a mutating tool the way an assistant does in this client's mode."""
    if answers is not None:
        asked = len(answers.questions)
        out = await call(client, name, args, progress)
        assert len(answers.questions) == asked + 1  # the user was asked exactly once
        return out, answers.questions[-1]
    text = await refused(client, name, args)
    assert "ConfirmationRequiredError" in text and "Nothing was done" in text
    token = re.search(r"confirm_token='(cfm-[^']+)'", text).group(1)
    return await call(client, name, {**args, "confirm_token": token}, progress), text


def digest(url: str, column: str) -> str:
    with psycopg.connect(url) as c:
        return c.execute(
            f"SELECT md5(string_agg(id || ':' || {column}, ',' ORDER BY id)) FROM users"
        ).fetchone()[0]


@pytest.mark.parametrize(
    ("mode", "elicitation"),
    [("auto", True), ("legacy", True), ("auto", False), ("legacy", False)],
    ids=["elicitation-2026", "elicitation-2025", "token-2026", "token-2025"],
)
async def test_rename_users_email_with_zero_downtime_from_spec_to_in_review(
    workspace_dir: Path, pg_url: str, mode: str, elicitation: bool
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL)")
        c.execute(
            "INSERT INTO users (email) SELECT 'u' || g || '@x.org' FROM generate_series(1, %s) g",
            (ROWS,),
        )
    server = build_server(Workspace.open(workspace_dir))
    answers = Answers() if elicitation else None
    async with Client(server, mode=mode, elicitation_callback=answers) as client:
        await call(client, "status_update", {"story": STORY, "title": SPEC["title"]})
        await call(client, "status_update", {"story": STORY, "status": "in-progress"})

        plan = await call(client, "plan_migration", {"spec": SPEC, "db": pg_url, "story": STORY})
        assert plan["pattern"] == "expand_contract"
        pid, phash = plan["plan_id"], plan["plan_hash"]
        ids = {"plan_id": pid, "plan_hash": phash}

        # the harness rule: no in-review before a passing validation
        text = await refused(client, "status_update", {"story": STORY, "status": "in-review"})
        assert "HarnessRuleError" in text

        # a dry run shows the exact operations and changes nothing (no confirmation needed)
        dry = await call(client, "execute", {**ids, "all_steps": True, "dry_run": True})
        assert dry["dry_run"] and [s["step"] for s in dry["steps"]] == [
            s["id"] for s in plan["steps"]
        ]
        planned = [x for s in plan["steps"] for x in s["statements"]]
        shown = [x for s in dry["steps"] for o in s["operations"] for x in o["statements"]]
        assert planned == shown[: len(planned)]
        with psycopg.connect(pg_url) as c:
            assert c.execute("SELECT count(*) FROM users").fetchone() == (ROWS,)
            assert c.execute(
                "SELECT count(*) FROM information_schema.columns WHERE column_name = 'email_address'"
            ).fetchone() == (0,)
        before = digest(pg_url, "email")

        # a wrong hash is refused before anything runs
        text = await refused(
            client, "execute", {"plan_id": pid, "plan_hash": "0" * 12, "phase": "expand"}
        )
        assert "UnknownPlanHashError" in text and "never had the hash" in text

        phases = []
        for s in plan["steps"]:
            if s["phase"] not in phases:
                phases.append(s["phase"])
        assert phases[0] == "expand" and phases[-1] == "contract"
        last: dict[str, Any] = {}
        for phase in phases:
            progress: list[str] = []
            args = {**ids, "phase": phase}
            if phase == "migrate":  # the assistant asks for gentler batches than the plan's
                args["batch_size"] = 1000
            last, question = await confirmed(client, answers, "execute", args, progress)
            if phase == "migrate":  # progress notifications per backfill batch
                assert any("batch 1," in m for m in progress), progress
                assert any("batch 5," in m for m in progress), progress  # 5000 rows / 1000
            assert {s["phase"] for s in last["steps"]} == {phase}
            if phase == "contract":
                assert "DESTRUCTIVE" in question
            if phase == "expand":
                # the old application keeps writing through the old name; the triggers sync it
                with psycopg.connect(pg_url, autocommit=True) as c:
                    c.execute("INSERT INTO users (email) VALUES ('during@x.org')")
            status = await call(client, "run_status", {"plan_id": pid})
            assert status["source"] == "target database"
            assert all(st["status"] == "done" for st in status["steps"] if st["phase"] == phase)

        assert last["remaining"] == []
        final = last["final_validation"]
        assert final["passed"], final
        story = await call(client, "status_get", {"story": STORY})
        assert story["stories"][0]["status"] in ("in-review", "in_review")
        assert story["stories"][0]["test_status"] == "passing"
        assert story["stories"][0]["migration"]["plan"] == pid  # each phase recorded on the story

        # the validation tool, on the plan's post-migration rules, agrees
        plan_doc = json.loads(
            (workspace_dir / ".datamigration" / "plans" / f"{pid}.json").read_text()
        )
        rules = workspace_dir / "rules" / "post.json"
        rules.parent.mkdir()
        rules.write_text(
            json.dumps({"name": "post", "target": pg_url, "rules": plan_doc["post_validation"]})
        )
        report = await call(client, "validate", {"rules_file": "rules/post.json", "story": STORY})
        assert report["passed"] and report["test_status"] == "passing"

        # rolling back a step that dropped the old column is refused: a point of no return
        text = await refused(client, "rollback", {**ids})
        assert "point of no return" in text

    with psycopg.connect(pg_url, autocommit=True) as c:
        cols = [r[0] for r in c.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'users' "
            "ORDER BY ordinal_position")]  # fmt: skip
        assert cols == ["id", "email_address"]
        assert c.execute(
            "SELECT email_address FROM users WHERE id = %s", (ROWS + 1,)
        ).fetchone() == ("during@x.org",)
        c.execute("DELETE FROM users WHERE id > %s", (ROWS,))
        assert digest(pg_url, "email_address") == before
    bus = workspace_dir / "docs" / "09-agents" / "bus" / "log.jsonl"
    if not bus.exists():
        bus = next(workspace_dir.rglob("log.jsonl"))
    texts = [json.loads(line)["text"] for line in bus.read_text().splitlines()]
    for phase in phases:
        assert any(f"phase {phase} started" in t for t in texts), texts
    assert any("in-review" in t or "in_review" in t for t in texts)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_rehearsal_is_confirmed_first_and_its_timings_come_back_with_a_new_hash(
    workspace_dir: Path, pg_url: str, mode: str
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL)")
        c.execute(
            "INSERT INTO users (email) SELECT 'u' || g || '@x' FROM generate_series(1, 2000) g"
        )
    server = build_server(Workspace.open(workspace_dir))
    async with Client(server, mode=mode) as client:
        plan = await call(client, "plan_migration", {"spec": SPEC, "db": pg_url})
        args = {"plan_id": plan["plan_id"], "plan_hash": plan["plan_hash"], "sample_rows": 500}
        out, question = await confirmed(client, None, "rehearse", args)
        assert "throwaway copy" in question
        assert out["recorded"] and out["previous_hash"] == plan["plan_hash"]
        assert out["plan_hash"] != plan["plan_hash"]
        assert out["rehearsal"]["passed"] and out["rehearsal"]["sampled_rows"] == {"users": 500}
        # the old hash no longer names the stored plan; the new one does
        old = {"plan_id": plan["plan_id"], "plan_hash": plan["plan_hash"], "dry_run": True}
        assert "PlanHashMismatchError" in await refused(client, "execute", old)
        dry = await call(client, "execute", {"plan_id": plan["plan_id"],
                                             "plan_hash": out["plan_hash"], "dry_run": True})  # fmt: skip
        assert dry["dry_run"] and dry["steps"][0]["step"] == "s01"
