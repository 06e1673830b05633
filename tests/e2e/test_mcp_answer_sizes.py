"""Every MCP answer fits a model, measured in a scripted session over the real server.

One session calls every tool with large, realistic inputs (a 3,000-line file, a 3,000-statement
migration, `query` with max_rows=10000 on a 12,000-row PostgreSQL table, the plan of a rename,
`grep` over 3,000 matches, 3,000 files, 2,000 stories, 3,000 bus messages) and records the size
of each whole answer as it travels (the JSON-RPC result: text block + structuredContent),
counted as ceil(characters / 4): none may pass 25k tokens, and `tools/list` stays under 10k.
Then the pages of each paging tool, put together, must be the whole result.
The recorded sizes are printed (`pytest -s`) as the table the docs quote.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest
from mcp.client import Client
from mcp.server import MCPServer

from datamigration.lint import lint_paths
from datamigration.lint.model import LintOptions
from datamigration.lint.report import to_json
from datamigration.mcp.answers import estimate_tokens
from datamigration.mcp.app import build_server
from datamigration.workspace.root import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.anyio]

ANSWER_LIMIT_TOKENS = 25_000
TOOLS_LIST_LIMIT_TOKENS = 10_000
LINES = 3000
ROWS = 12_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def big_workspace(root: Path) -> None:
    """Files, a board and a bus large enough that every unpaged answer would overflow."""
    (root / "notes.txt").write_text(
        "".join(
            f"line {i}: the quick brown fox jumps over the lazy dog {i}\n" for i in range(LINES)
        )
    )
    (root / "big.sql").write_text(
        "".join(
            f"ALTER TABLE t{i % 50} ADD COLUMN c{i} integer NOT NULL DEFAULT {i};\n"
            for i in range(LINES)
        )
    )
    (root / "small.sql").write_text(
        "".join(f"CREATE INDEX i{i} ON t{i % 7} (c{i});\n" for i in range(150))
    )
    many = root / "many"
    many.mkdir()
    for i in range(LINES):
        (many / f"file_{i:04d}_with_a_longer_name_to_fill_the_listing.sql").write_text(
            "SELECT 1;\n"
        )
    stories = {
        f"US-{i:04d}": {
            "id": f"US-{i:04d}",
            "title": f"Story number {i} about migrating a table without downtime",
            "status": "ready",
            "owner": "AG-DATAMIGRATION",
            "summary": "x" * 200,
        }
        for i in range(2000)
    }
    (root / "status.json").write_text(json.dumps({"updated": "2026-12-01", "stories": stories}))
    bus = root / "bus"
    bus.mkdir()
    (bus / "log.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    "ts": f"2026-12-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
                    "from": "AG-DATABASE",
                    "type": "status",
                    "text": f"message {i}: " + "progress report " * 10,
                }
            )
            + "\n"
            for i in range(LINES)
        )
    )


def big_table(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(
            "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL, name text, "
            "created_at timestamptz NOT NULL DEFAULT '2026-01-01')"
        )
        c.execute(
            "INSERT INTO users (email, name) SELECT 'user' || g || '@example.org', 'Name ' || g "
            "FROM generate_series(1, %s) g",
            (ROWS,),
        )
        c.execute("CREATE TABLE users_head AS SELECT * FROM users WHERE id <= 100")
        c.execute("ALTER TABLE users_head ADD PRIMARY KEY (id)")


class Recorder:
    """Calls tools and keeps the size of every answer, as sent."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.sizes: dict[str, int] = {}

    async def __call__(self, name: str, args: dict[str, Any], *, ok: bool = True) -> Any:
        result = await self.client.call_tool(name, args)
        wire = result.model_dump_json(by_alias=True, exclude_none=True)
        label = name if name not in self.sizes else f"{name} #{len(self.sizes)}"
        self.sizes[label] = estimate_tokens(wire)
        if ok:
            assert not result.is_error, f"{name}: {result.content[0].text}"
            assert json.loads(result.content[0].text) == result.structured_content, name
            return result.structured_content
        return result


@pytest.fixture
def server(workspace_dir: Path) -> MCPServer:
    big_workspace(workspace_dir)
    return build_server(Workspace.open(workspace_dir))


async def test_every_answer_of_a_large_session_stays_under_25k_tokens_and_tools_list_under_10k(
    server: MCPServer, workspace_dir: Path, pg_url: str
) -> None:
    big_table(pg_url)
    rename = {"kind": "rename_column", "table": "users", "column": "email", "new_name": "mail"}
    async with Client(server) as client:
        listed = await client.list_tools()
        tools_list_tokens = estimate_tokens(
            listed.model_dump_json(by_alias=True, exclude_none=True)
        )
        call = Recorder(client)
        # first: plan_migration and validate post to the bus, which may rotate the big log
        assert (await call("bus_read", {"limit": 500}))["truncated"]
        assert (await call("read", {"path": "notes.txt", "limit": LINES}))["truncated"]
        assert (await call("lint_migration", {"paths": ["big.sql"]}))["truncated"]
        await call("lint_migration", {"sql": (workspace_dir / "big.sql").read_text()})
        sql = "SELECT * FROM users ORDER BY id"
        page = await call("query", {"db": pg_url, "sql": sql, "max_rows": 10_000})
        assert page["truncated"] and page["next"].startswith("call query again with offset=")
        assert (await call("grep", {"regex": "fox", "limit": LINES}))["truncated"]
        await call("grep", {"regex": "fox", "limit": LINES, "files_only": True})
        assert (await call("glob", {"pattern": "many/*.sql", "limit": LINES}))["truncated"]
        plan = await call("plan_migration", {"spec": rename, "db": pg_url})
        key = {"plan_id": plan["plan_id"], "plan_hash": plan["plan_hash"]}
        await call("execute", {**key, "all_steps": True, "dry_run": True})
        await call("rollback", {**key, "all_steps": True, "dry_run": True}, ok=False)
        await call("rehearse", key, ok=False)  # asks for a confirmation: that answer counts too
        await call("run_status", {"plan_id": plan["plan_id"], "db": pg_url})
        await call("run_status", {})
        await call("inspect", {"db": pg_url, "table": ["users"]})
        taken = await call("backup", {"db": pg_url, "tables": ["users_head"]})
        assert taken["backup"]["verified"]
        await call("backup", {"list_all": True})
        await call("monitor", {"db": pg_url, "seconds": 2, "interval": 0.1, "run": "big"})
        await call("health_check", {"db": pg_url})
        diff = await call(
            "diff_data",
            {
                "source": pg_url,
                "source_table": "users",
                "target": pg_url,
                "target_table": "users_head",
                "max_keys": 10_000,
            },
        )  # 11,900 missing keys: more than one answer holds, so the central guard cuts it
        assert diff["truncated"] and "diff_data" in diff["next"]
        assert diff["missing_count"] == ROWS - 100
        shadow = {"source": pg_url, "target": pg_url, "tables": ["users"], "sample": 10_000}
        assert (await call("shadow_reads", shadow))["reads"] == 10_000
        copy = {"source": pg_url, "target": "sqlite:///copy.db", "tables": ["users"]}
        assert (await call("copy_data", {**copy, "dry_run": True}))["dry_run"]
        assert (await call("sync", {"action": "status"}))["result"] == {"runs": []}
        rules = await call("generate_rules", {"source": pg_url, "table": "users", "path": "r.yaml"})
        assert rules["path"] == "r.yaml"
        await call("validate", {"rules_file": "r.yaml"})
        await call("flags_get", {})
        await call("flags_rollout", {"flag": "new-mail", "percent": 1}, ok=False)
        await call("flags_rollback", {"flag": "new-mail"}, ok=False)
        await call("cutover", {"run": "mv_users_0"}, ok=False)  # asks for a confirmation
        assert (await call("status_get", {"limit": 1000}))["truncated"]
        await call("status_update", {"story": "US-0001", "status": "in-progress"})
        await call("bus_post", {"type": "status", "text": "sizes measured", "story": "US-0001"})
        await call("bus_questions", {"limit": 200})
        await call("bus_answer", {"question_id": "nope", "text": "no"}, ok=False)
        await call("adr_new", {"title": "Answers fit a model", "context": "x" * 5000})
        await call("expertise_get", {}, ok=False)  # no expertise file in this workspace yet
        await call("expertise_learn", {"context": "sizes", "insight": "answers are paged"})
        await call("write", {"path": "out.txt", "content": "y" * 100_000})
        await call("edit", {"path": "out.txt", "old": "y" * 10, "new": "z", "replace_all": True})
        await call("run", {"command": "cat notes.txt"}, ok=False)  # may ask for confirmation
        await call("find_migrations", {})

    called = {label.split(" #")[0] for label in call.sizes}
    assert called == {t.name for t in listed.tools}, "every tool is called at least once"
    print(f"\ntools/list: {tools_list_tokens} tokens")
    for label, tokens in sorted(call.sizes.items(), key=lambda kv: -kv[1]):
        print(f"{label:>24}: {tokens:>6} tokens")
    assert tools_list_tokens < TOOLS_LIST_LIMIT_TOKENS
    over = {label: t for label, t in call.sizes.items() if t > ANSWER_LIMIT_TOKENS}
    assert not over, f"answers over {ANSWER_LIMIT_TOKENS} tokens: {over}"


async def pages(client: Client, name: str, args: dict[str, Any], key: str) -> list[Any]:
    """Follow `next` from the first page to the last; the items of every page, in order."""
    items: list[Any] = []
    offset: int | None = None
    for _ in range(200):
        call_args = args if offset is None else {**args, "offset": offset}
        result = await client.call_tool(name, call_args)
        assert not result.is_error, result.content[0].text
        out = result.structured_content
        items.extend(out[key])
        if not out["truncated"]:
            return items
        offset = int(re.search(r"offset=(\d+)", out["next"]).group(1))
        assert offset > call_args.get("offset", 0), "paging moves forward"
    raise AssertionError(f"{name} never stopped paging")


async def test_the_pages_of_read_put_together_are_the_whole_file(
    server: MCPServer, workspace_dir: Path
) -> None:
    async with Client(server) as client:
        text = ""
        offset, calls = 1, 0
        while True:
            out = (
                await client.call_tool("read", {"path": "notes.txt", "offset": offset})
            ).structured_content
            text += out["content"]
            calls += 1
            if not out["truncated"]:
                break
            assert out["next"] == f"call read again with offset={out['end_line'] + 1}"
            offset = out["end_line"] + 1
    assert calls > 1
    assert text == (workspace_dir / "notes.txt").read_text()


async def test_the_pages_of_query_put_together_are_every_row(
    server: MCPServer, pg_url: str
) -> None:
    big_table(pg_url)
    sql = "SELECT id, email, name FROM users WHERE id <= 6000 ORDER BY id"
    async with Client(server) as client:
        rows = await pages(client, "query", {"db": pg_url, "sql": sql, "max_rows": 10_000}, "rows")
    with psycopg.connect(pg_url) as c:
        expected = [list(r) for r in c.execute(sql).fetchall()]
    assert rows == expected


async def test_query_pages_reach_the_first_10000_rows_then_point_to_keyset_paging(
    server: MCPServer, pg_url: str
) -> None:
    big_table(pg_url)
    sql = "SELECT id FROM users ORDER BY id"
    rows: list[Any] = []
    async with Client(server) as client:
        out = {"next": "offset=0"}
        while "offset=" in out["next"]:
            offset = int(re.search(r"offset=(\d+)", out["next"]).group(1))
            args = {"db": pg_url, "sql": sql, "max_rows": 4000, "offset": offset}
            out = (await client.call_tool("query", args)).structured_content
            rows.extend(out["rows"])
        assert out["truncated"] and "keyset" in out["next"]
        past = await client.call_tool("query", {"db": pg_url, "sql": sql, "offset": 10_000})
    assert rows == [[i] for i in range(1, 10_001)]
    assert past.is_error and "keyset" in past.content[0].text


async def test_the_pages_of_grep_glob_lint_status_and_bus_put_together_are_the_whole_result(
    server: MCPServer, workspace_dir: Path
) -> None:
    async with Client(server) as client:
        matches = await pages(client, "grep", {"regex": "fox", "limit": LINES}, "matches")
        files = await pages(client, "glob", {"pattern": "many/*.sql", "limit": LINES}, "files")
        findings = await pages(client, "lint_migration", {"paths": ["small.sql"]}, "findings")
        stories = await pages(client, "status_get", {"limit": 1000}, "stories")
        newest_first: list[Any] = []
        offset = 0
        while True:  # the bus pages back in time; each page is oldest first
            out = (
                await client.call_tool("bus_read", {"limit": 500, "offset": offset})
            ).structured_content
            newest_first.extend(reversed(out["messages"]))
            if not out["truncated"]:
                break
            offset = int(re.search(r"offset=(\d+)", out["next"]).group(1))
    lines = (workspace_dir / "notes.txt").read_text().splitlines()
    assert [(m["line"], m["text"]) for m in matches] == [(i + 1, t) for i, t in enumerate(lines)]
    assert sorted(files) == sorted(f"many/{p.name}" for p in (workspace_dir / "many").iterdir())
    assert len(files) == LINES
    whole = to_json(
        lint_paths(Workspace.open(workspace_dir), ["small.sql"], LintOptions(dialect="postgres"))
    )
    assert len(whole) > 200 and findings == whole
    assert [s["id"] for s in stories] == [f"US-{i:04d}" for i in range(2000)]
    assert [m["text"].split(":")[0] for m in reversed(newest_first)] == [
        f"message {i}" for i in range(LINES)
    ]
