"""Scripted MCP session: "move accounts to the other PostgreSQL database with zero downtime",
through a real MCP client and the confirm-token flow: `plan_migration` plans the move_table
phases, `execute` runs prepare, snapshot, catch-up, shadow and cutover while an application
writes on the side the flag names, and `rollback` of the cutover step brings the target's
writes back to the source. No write fails; the write pause is measured and bounded."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest
from mcp.client import Client

from datamigration.db import connect
from datamigration.errors import DataMigrationError
from datamigration.mcp.app import build_server
from datamigration.move.sync.control import stop_sync
from datamigration.validate.diff import diff_tables
from datamigration.workspace.root import Workspace
from support.writer import Writer

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.anyio]

PHASES = ["prepare", "snapshot", "catch_up", "shadow", "cutover"]
FLAG = "accounts_reads_from_target"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def confirmed(client: Client, name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Call a tool; when it asks for a confirmation, confirm with the token it hands out."""
    result = await client.call_tool(name, args)
    if result.is_error:
        text = result.content[0].text
        assert "ConfirmationRequiredError" in text and "Nothing was done" in text, text
        token = re.search(r"confirm_token='(cfm-[^']+)'", text).group(1)
        result = await client.call_tool(name, {**args, "confirm_token": token})
    assert not result.is_error, result.content[0].text
    return result.structured_content


def operations(out: dict[str, Any]) -> list[dict[str, Any]]:
    return [o for s in out["steps"] for o in s["operations"]]


async def test_a_move_table_plan_runs_to_cutover_under_load_and_its_rollback_loses_nothing(
    make_pg_url, workspace_dir: Path
) -> None:
    src, dst = make_pg_url(), make_pg_url()
    with psycopg.connect(src, autocommit=True) as c:
        c.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, note text)")
        c.execute("INSERT INTO accounts SELECT g, g, 'seed' FROM generate_series(1, 400) g")
    ws = Workspace.open(workspace_dir)
    # the application writes while the shadow step reads: a read can race a write in flight
    bounds = {"pause_max_ms": 5000, "lag_max_s": 5, "shadow_sample": 200, "max_mismatches": 10}
    spec = {"kind": "move_table", "table": "accounts", "target": dst, "cutover": bounds}
    writer = Writer(src, dst, ws, FLAG)
    run = ""
    try:
        async with Client(build_server(ws), mode="auto") as client:
            plan = await confirmed(client, "plan_migration", {"spec": spec, "db": src})
            assert plan["pattern"] == "dual_write_cdc"
            assert [s["phase"] for s in plan["steps"]] == [*PHASES, "decommission"]
            ids = {"plan_id": plan["plan_id"], "plan_hash": plan["plan_hash"]}
            writer.start()
            outs = {}
            for phase in PHASES:
                outs[phase] = await confirmed(client, "execute", {**ids, "phase": phase})
                assert [s["status"] for s in outs[phase]["steps"]] == ["done"]
            run = operations(outs["prepare"])[0]["sync"]["run"]
            report = operations(outs["cutover"])[0]["cutover"]
            assert report["diff"]["identical"] and 0 < report["write_pause_ms"] <= 5000
            assert writer.on_target() and outs["cutover"]["remaining"] == [
                s["id"] for s in plan["steps"] if s["phase"] == "decommission"
            ]
            before = writer.count("target")
            while writer.count("target") < before + 30:  # the application now writes the target
                writer._thread.join(0.1)
            writer.stop()
            assert writer.failed() == []
            cut = next(s["id"] for s in plan["steps"] if s["phase"] == "cutover")
            back = await confirmed(client, "rollback", {**ids, "step": cut})
            assert back["steps"][0]["status"] == "rolled_back"
            assert not writer.on_target()
        assert diff_tables(src, "accounts", dst, "accounts")["identical"]
        text = "".join(p.read_text() for p in workspace_dir.rglob("log.jsonl"))
        assert "cutover completed" in text and "rollback completed" in text
    finally:
        writer.stop()
        for name, target, source in ((run, dst, src), (run + "_back", src, dst)):
            with contextlib.suppress(DataMigrationError):
                if name:
                    stop_sync(ws, name, teardown=True, target=target, source=source, wait_s=10)
    with connect(src) as b:
        assert [x for x in b.capture_leftovers() if x.get("run") == run] == []
