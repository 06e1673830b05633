"""Scripted MCP session: "move users from PostgreSQL to MongoDB with zero downtime", from the
spec to in-review, through a real MCP client and the confirm-token flow.

The story is opened, a `move_table` spec (users, their orders embedded as an array by a mapping
file) is planned with `plan_migration`, the harness refuses in-review before any validation,
then `execute` runs prepare (capture on the shared PostgreSQL's triggers, snapshot and
streaming in the background), snapshot, catch-up, shadow reads through the mapping and the
cutover, one phase per call, each confirmed with the token it hands out, while an application
inserts and updates users and orders on the source until the flag sends it to MongoDB. The
cutover's checksum diff of rows against documents is empty, no write failed, `validate`
passes on the story, and only then does the story reach in-review."""

from __future__ import annotations

import contextlib
import json
import random
import re
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from mcp.client import Client

from datamigration.errors import DataMigrationError
from datamigration.mcp.app import build_server
from datamigration.move.sync.control import stop_sync
from datamigration.safety import flags
from datamigration.workspace.root import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.anyio]

STORY = "US-0313"
TITLE = "Move users from PostgreSQL to MongoDB with zero downtime"
PHASES = ["prepare", "snapshot", "catch_up", "shadow", "cutover"]
FLAG = "users_reads_from_target"
MAPPING = {"collections": [{"collection": "users", "root": "users",
                            "embed": [{"table": "orders", "kind": "array"}]}]}  # fmt: skip


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def call(client: Client, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, args)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def refused(client: Client, name: str, args: dict[str, Any]) -> str:
    result = await client.call_tool(name, args)
    assert result.is_error
    return result.content[0].text


async def confirmed(client: Client, name: str, args: dict[str, Any]) -> tuple[dict, bool]:
    """Call a tool; when it asks for a confirmation, confirm with the token it hands out.
    Also says whether it asked."""
    result = await client.call_tool(name, args)
    if not result.is_error:
        return result.structured_content, False
    text = result.content[0].text
    assert "ConfirmationRequiredError" in text and "Nothing was done" in text, text
    token = re.search(r"confirm_token='(cfm-[^']+)'", text).group(1)
    return await call(client, name, {**args, "confirm_token": token}), True


class ShopApp:
    """Writes users and orders on the source while the flag says the source serves; once it
    says MongoDB, the application has moved and stops writing the source."""

    def __init__(self, url: str, ws: Workspace) -> None:
        self.url, self.ws = url, ws
        self.ok, self.failed = 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def on_target(self) -> bool:
        try:
            return bool(flags.evaluate(self.ws, FLAG, {"targetingKey": "app"})["value"])
        except DataMigrationError:
            return False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        rng, n = random.Random(13), 0
        with psycopg.connect(self.url, autocommit=True) as c:
            while not self._stop.is_set() and not self.on_target():
                n += 1
                user = rng.randint(1, 200)
                sql, args = [
                    ("UPDATE users SET email = %s WHERE id = %s", (f"u{user}-{n}@x.org", user)),
                    ("INSERT INTO orders (id, user_id, total) VALUES (%s, %s, %s)",
                     (10_000 + n, user, n)),
                    ("UPDATE orders SET total = total + 1 WHERE id = %s", (rng.randint(1, 400),)),
                    ("INSERT INTO users (id, email) VALUES (%s, %s)",
                     (5_000 + n, f"new{n}@x.org")),
                ][n % 4]  # fmt: skip
                try:
                    c.execute(sql, args)
                    self.ok += 1
                except psycopg.Error as exc:
                    self.failed.append(str(exc))
                time.sleep(0.01)


async def test_move_users_from_postgresql_to_mongodb_with_zero_downtime_to_in_review(
    pg_url: str, mongo_url: str, workspace_dir: Path
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL)")
        c.execute(
            "CREATE TABLE orders (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users, total int)"
        )
        c.execute("INSERT INTO users SELECT g, 'u' || g || '@x.org' FROM generate_series(1, 200) g")
        c.execute("INSERT INTO orders SELECT g, 1 + g % 200, g FROM generate_series(1, 400) g")
    (workspace_dir / "users-orders.json").write_text(json.dumps(MAPPING))
    ws = Workspace.open(workspace_dir)
    bounds = {"pause_max_ms": 5000, "lag_max_s": 5, "shadow_sample": 100, "max_mismatches": 10}
    spec = {"kind": "move_table", "table": "users", "target": mongo_url, "title": TITLE,
            "mapping": "users-orders.json", "cutover": bounds}  # fmt: skip
    app = ShopApp(pg_url, ws)
    run = ""
    try:
        async with Client(build_server(ws), mode="auto") as client:
            await call(client, "status_update", {"story": STORY, "title": TITLE})
            await call(client, "status_update", {"story": STORY, "status": "in-progress"})
            plan = await call(
                client, "plan_migration", {"spec": spec, "db": pg_url, "story": STORY}
            )
            assert plan["pattern"] == "dual_write_cdc"
            assert [s["phase"] for s in plan["steps"]] == [*PHASES, "decommission"]
            ids = {"plan_id": plan["plan_id"], "plan_hash": plan["plan_hash"]}
            text = await refused(client, "status_update", {"story": STORY, "status": "in-review"})
            assert "HarnessRuleError" in text  # no in-review before a passing validation

            app.start()
            outs, asked = {}, {}
            for phase in PHASES:
                outs[phase], asked[phase] = await confirmed(
                    client, "execute", {**ids, "phase": phase}
                )
                assert [s["status"] for s in outs[phase]["steps"]] == ["done"], outs[phase]
                if phase == "catch_up":  # the sync runs in the background, orders included
                    run = outs["prepare"]["steps"][0]["operations"][0]["sync"]["run"]
                    seen = await call(client, "sync", {"action": "status", "run": run})
                    state = seen["result"]["runs"][0]
                    assert state["alive"] and state["state"]["status"] == "running", state
                    assert state["state"]["info"]["tables"] == ["users", "orders"]
            # what changes something asks first; waiting and reading do not
            assert asked == {"prepare": True, "snapshot": False, "catch_up": False,
                             "shadow": False, "cutover": True}  # fmt: skip
            shadow = outs["shadow"]["steps"][0]["operations"][0]["shadow_reads"][0]
            assert shadow["passed"] and shadow["reads"] > 0, shadow
            report = outs["cutover"]["steps"][0]["operations"][0]["cutover"]
            assert report["diff"]["identical"] and 0 < report["write_pause_ms"] <= 5000
            assert report["way_back"]["run"] is None  # MongoDB: the target's writes reported
            assert app.on_target()
            app.stop()
            assert app.failed == [] and app.ok > 20

            rules = {"name": "users-moved", "source": pg_url, "target": mongo_url,
                     "rules": [{"id": "users-count", "type": "count_match", "table": "users",
                                "tolerance": 0}]}  # fmt: skip
            (workspace_dir / "rules.json").write_text(json.dumps(rules))
            checked = await call(client, "validate", {"rules_file": "rules.json", "story": STORY})
            assert checked["passed"] and checked["test_status"] == "passing"
            await call(client, "status_update", {"story": STORY, "status": "in-review"})
            story = (await call(client, "status_get", {"story": STORY}))["stories"][0]
            assert story["status"] in ("in-review", "in_review")
            assert story["migration"]["plan"] == plan["plan_id"]
        text = "".join(p.read_text() for p in workspace_dir.rglob("log.jsonl"))
        assert "cutover completed" in text
    finally:
        app.stop()
        with contextlib.suppress(DataMigrationError):
            if run:
                stop_sync(ws, run, teardown=True, target=mongo_url, source=pg_url, wait_s=10)
