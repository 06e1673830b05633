"""The validation tools (`diff_data`, `validate`, `generate_rules`) through a real MCP client, in
both protocol eras, against real databases: planted differences come back as exactly those
keys, reports land under docs/, and the verdict recorded on a story drives the harness rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from mcp.client import Client
from mcp.server import MCPServer

from datamigration.mcp.app import build_server
from datamigration.workspace.root import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

MODES = ["auto", "legacy"]

USERS_DDL = (
    "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, "
    "balance numeric(12,2), created_at timestamptz NOT NULL)"
)
USERS_ROWS = (
    "INSERT INTO users SELECT g, 'u' || g || '@x.org', g * 1.25, "
    "'2024-03-01 10:00:00+00'::timestamptz + g * interval '1 minute' "
    "FROM generate_series(1, 3000) g"
)
PLANTED = [
    "DELETE FROM users WHERE id = 1234",  # missing on the target
    "INSERT INTO users VALUES (99999, 'new@x.org', 1, '2024-01-01')",  # extra on the target
    "UPDATE users SET email = 'changed@x.org' WHERE id = 2500",  # changed on the target
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server(workspace_dir: Path) -> MCPServer:
    return build_server(Workspace.open(workspace_dir))


def run_sql(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for s in statements:
            conn.execute(s)


@pytest.fixture
def pair(make_pg_url) -> tuple[str, str]:
    """Two PostgreSQL databases holding the same users table."""
    src, dst = make_pg_url(), make_pg_url()
    run_sql(src, USERS_DDL, USERS_ROWS)
    run_sql(dst, USERS_DDL, USERS_ROWS)
    return src, dst


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
async def test_the_validation_tools_are_listed_with_annotations_and_output_schemas(
    server: MCPServer, mode: str
) -> None:
    async with Client(server, mode=mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert tools["diff_data"].annotations.read_only_hint is True
    for name in ("validate", "generate_rules"):
        hints = tools[name].annotations
        assert hints.read_only_hint is False and hints.destructive_hint is False, name
        assert hints.idempotent_hint is True, name
    for name in ("diff_data", "validate", "generate_rules"):
        assert tools[name].output_schema["type"] == "object", name
    assert "truncated" in tools["diff_data"].output_schema["properties"]


@pytest.mark.parametrize("mode", MODES)
async def test_diff_data_returns_exactly_the_planted_missing_extra_and_changed_keys(
    server: MCPServer, pair: tuple[str, str], mode: str
) -> None:
    src, dst = pair
    run_sql(dst, *PLANTED)
    async with Client(server, mode=mode) as client:
        out = await call(
            client,
            "diff_data",
            {
                "source": src,
                "source_table": "users",
                "target": dst,
                "target_table": "users",
            },
        )
    assert (out["missing"], out["extra"], out["changed"]) == ([1234], [99999], [2500])
    assert (out["missing_count"], out["extra_count"], out["changed_count"]) == (1, 1, 1)
    assert out["changed_fields"] == [{"key": 2500, "fields": ["email"]}]
    assert out["identical"] is False and out["truncated"] is False
    assert out["key"] == ["id"] and out["rows_compared"] == 3000
    assert out["source"]["hashing"] == out["target"]["hashing"] == "database"


@pytest.mark.parametrize("mode", MODES)
async def test_diff_data_of_identical_tables_is_identical(
    server: MCPServer, pair: tuple[str, str], mode: str
) -> None:
    src, dst = pair
    async with Client(server, mode=mode) as client:
        out = await call(
            client,
            "diff_data",
            {
                "source": src,
                "source_table": "users",
                "target": dst,
                "target_table": "users",
                "columns": ["email", "balance"],
                "normalisation": {"timestamp_precision": 3},
            },
        )
    assert out["identical"] is True
    assert (out["missing"], out["extra"], out["changed"]) == ([], [], [])
    assert out["normalisation"]["timestamp_precision"] == 3


@pytest.mark.parametrize("mode", MODES)
async def test_diff_data_caps_the_listed_keys_and_says_truncated(
    server: MCPServer, pair: tuple[str, str], mode: str
) -> None:
    src, dst = pair
    run_sql(dst, "DELETE FROM users WHERE id % 100 = 0")  # 30 missing rows
    async with Client(server, mode=mode) as client:
        out = await call(
            client,
            "diff_data",
            {
                "source": src,
                "source_table": "users",
                "target": dst,
                "target_table": "users",
                "max_keys": 5,
            },
        )
    assert out["missing_count"] == 30 and len(out["missing"]) == 5
    assert out["truncated"] is True
    assert set(out["missing"]) <= {i * 100 for i in range(1, 31)}


@pytest.mark.parametrize("mode", MODES)
async def test_diff_data_errors_come_back_with_a_hint_and_no_password(
    server: MCPServer, pair: tuple[str, str], mode: str
) -> None:
    src, dst = pair
    async with Client(server, mode=mode) as client:
        text = await refused(
            client,
            "diff_data",
            {"source": src, "source_table": "nope", "target": dst, "target_table": "users"},
        )
        assert "nope" in text and "hint:" in text
        bad = await refused(
            client,
            "diff_data",
            {
                "source": src,
                "source_table": "users",
                "target": dst,
                "target_table": "users",
                "normalisation": {"no_such_option": True},
            },
        )
        assert "no_such_option" in bad
        typed = await refused(
            client,
            "diff_data",
            {
                "source": src,
                "source_table": "users",
                "target": dst,
                "target_table": "users",
                "normalisation": {"timestamp_precision": "x"},
            },
        )
        assert "timestamp_precision" in typed
        secret = await refused(
            client,
            "diff_data",
            {
                "source": "postgresql://app:Sekr1t-pw@127.0.0.1:1/app",
                "source_table": "users",
                "target": dst,
                "target_table": "users",
            },
        )
        assert "Sekr1t-pw" not in secret


def rules_doc(src: str, dst: str) -> dict[str, Any]:
    return {
        "version": 1,
        "name": "users migration",
        "source": src,
        "target": dst,
        "rules": [
            {"id": "count", "type": "count_match", "table": "users"},
            {"id": "email-not-null", "type": "not_null", "table": "users",
             "columns": ["email"], "on": "target"},
            {"id": "data", "type": "checksum_diff", "table": "users"},
        ],
    }  # fmt: skip


def new_story(workspace_dir: Path) -> None:
    from datamigration.coordination import status

    status.new_story(
        Workspace.open(workspace_dir), "US-0042", "Migrate users", status="in_progress"
    )


@pytest.mark.parametrize("mode", MODES)
async def test_validate_writes_a_report_and_the_verdict_gates_review(
    server: MCPServer, pair: tuple[str, str], workspace_dir: Path, mode: str
) -> None:
    src, dst = pair
    run_sql(dst, *PLANTED)
    new_story(workspace_dir)
    (workspace_dir / "rules.yaml").write_text(yaml.safe_dump(rules_doc(src, dst)))
    async with Client(server, mode=mode) as client:
        failed = await call(client, "validate", {"rules_file": "rules.yaml", "story": "US-0042"})
        assert failed["passed"] is False and failed["test_status"] == "failing"
        by_id = {r["id"]: r for r in failed["results"]}
        assert by_id["count"]["passed"] is True  # one missing + one extra: same count
        assert by_id["data"]["passed"] is False
        assert by_id["email-not-null"]["passed"] is True
        assert failed["failed_count"] == 1 and failed["passed_count"] == 2
        report = workspace_dir / failed["report_json"]
        assert report.is_file() and failed["report_json"].startswith("docs/")
        assert json.loads(report.read_text())["story"] == "US-0042"
        markdown = (workspace_dir / failed["report_markdown"]).read_text()
        assert "**FAIL**" in markdown and "FAILED" in markdown
        text = await refused(client, "status_update", {"story": "US-0042", "status": "in-review"})
        assert "HarnessRuleError" in text and "failing" in text

        run_sql(
            dst,
            "INSERT INTO users VALUES (1234, 'u1234@x.org', 1542.50, "
            "'2024-03-01 10:00:00+00'::timestamptz + 1234 * interval '1 minute')",
            "DELETE FROM users WHERE id = 99999",
            "UPDATE users SET email = 'u2500@x.org' WHERE id = 2500",
        )
        passed = await call(client, "validate", {"rules_file": "rules.yaml", "story": "US-0042"})
        assert passed["passed"] is True and passed["test_status"] == "passing"
        assert passed["report_json"] == failed["report_json"]  # the same report, rewritten
        moved = await call(client, "status_update", {"story": "US-0042", "status": "in-review"})
        assert moved["status"] == "in-review"
    story = json.loads((workspace_dir / "status.json").read_text())["stories"]["US-0042"]
    assert story["test_status"] == "passing"
    assert story["test_results"]["report"] == passed["report_json"]


@pytest.mark.parametrize("mode", MODES)
async def test_validate_refuses_a_rules_file_outside_the_workspace_or_malformed(
    server: MCPServer, workspace_dir: Path, tmp_path: Path, mode: str
) -> None:
    (tmp_path / "outside.yaml").write_text("rules: []\n")
    (workspace_dir / "bad.yaml").write_text("rules:\n  - type: nope\n    table: t\n")
    async with Client(server, mode=mode) as client:
        outside = await refused(client, "validate", {"rules_file": str(tmp_path / "outside.yaml")})
        assert "PathOutsideWorkspaceError" in outside
        bad = await refused(client, "validate", {"rules_file": "bad.yaml"})
        assert "bad.yaml" in bad and "hint:" in bad
    assert not (workspace_dir / "docs").exists()


@pytest.mark.parametrize("mode", MODES)
async def test_validate_for_an_unknown_story_fails_before_any_rule_runs(
    server: MCPServer, pair: tuple[str, str], workspace_dir: Path, mode: str
) -> None:
    src, dst = pair
    new_story(workspace_dir)
    (workspace_dir / "rules.yaml").write_text(yaml.safe_dump(rules_doc(src, dst)))
    async with Client(server, mode=mode) as client:
        text = await refused(client, "validate", {"rules_file": "rules.yaml", "story": "US-0043"})
    assert "NotFoundError" in text and "US-0043" in text and "hint:" in text
    assert not (workspace_dir / "docs").exists()  # no report for a verdict with nowhere to go


@pytest.mark.parametrize("mode", MODES)
async def test_generate_rules_writes_a_rules_file_that_validate_then_runs(
    server: MCPServer, pair: tuple[str, str], workspace_dir: Path, mode: str
) -> None:
    src, dst = pair
    async with Client(server, mode=mode) as client:
        out = await call(
            client,
            "generate_rules",
            {"source": src, "table": "users", "target": dst, "path": "rules/users.yaml"},
        )
        assert out["path"] == "rules/users.yaml" and out["rules"] == len(out["content"]["rules"])
        on_disk = yaml.safe_load((workspace_dir / "rules/users.yaml").read_text())
        assert on_disk == out["content"]
        types = {r["type"] for r in on_disk["rules"]}
        assert {"count_match", "not_null", "checksum_diff", "schema_fidelity"} <= types
        run = await call(client, "validate", {"rules_file": "rules/users.yaml"})
        assert run["passed"] is True, run["summary"]
        assert run["story"] is None and run["test_status"] is None
        again = await call(
            client,
            "generate_rules",
            {"source": src, "table": "users", "target": dst, "path": "rules/users.yaml"},
        )
        assert again["path"] == "rules/users.yaml"  # same content: rewriting is harmless

        edited = (workspace_dir / "rules/users.yaml").read_text() + "# tolerance agreed\n"
        (workspace_dir / "rules/users.yaml").write_text(edited)
        args = {"source": src, "table": "users", "path": "rules/users.yaml"}
        text = await refused(client, "generate_rules", args)
        assert "ConflictError" in text and "overwrite" in text
        assert (workspace_dir / "rules/users.yaml").read_text() == edited
        replaced = await call(client, "generate_rules", {**args, "overwrite": True})
        assert "tolerance agreed" not in (workspace_dir / "rules/users.yaml").read_text()
        assert "target" not in replaced["content"]
