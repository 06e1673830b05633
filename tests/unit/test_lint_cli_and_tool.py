"""The CLI twin (stdin, folders, JSON contract, SARIF, exit codes) and the lint_migration tool."""

from __future__ import annotations

import io
import json

import pytest
from mcp.client import Client

from datamigration.cli import main
from datamigration.mcp.app import build_server
from datamigration.workspace.root import Workspace


def run_cli(monkeypatch, capsys, args, stdin=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(args)
    return code, capsys.readouterr().out


def test_stdin_with_an_error_exits_1_and_json_has_the_contract_fields(
    monkeypatch, capsys, workspace_dir
):
    code, out = run_cli(
        monkeypatch,
        capsys,
        ["--workspace", str(workspace_dir), "lint", "--format", "json"],
        "CREATE INDEX i ON t (a);\n",
    )
    assert code == 1
    findings = json.loads(out)
    first = next(f for f in findings if f["rule"] == "pg-create-index-nonconcurrent")
    assert {"rule", "severity", "file", "line", "column", "message", "fix", "equivalents"} <= set(
        first
    )
    assert first["file"] == "<stdin>" and (first["line"], first["column"]) == (1, 1)
    assert first["equivalents"]["squawk"] == "require-concurrent-index-creation"
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);" in first["fix"]


def test_safe_input_exits_0(monkeypatch, capsys, workspace_dir):
    code, _ = run_cli(
        monkeypatch,
        capsys,
        ["--workspace", str(workspace_dir), "lint"],
        "SET lock_timeout = '2s';\nALTER TABLE t ADD COLUMN IF NOT EXISTS c bigint;\n",
    )
    assert code == 0


def test_a_flyway_folder_is_linted_in_version_order_with_sarif_output(
    monkeypatch, capsys, workspace_dir
):
    mig = workspace_dir / "db" / "migration"
    mig.mkdir(parents=True)
    (mig / "V2__drop.sql").write_text("DROP TABLE legacy;\n")
    (mig / "V10__index.sql").write_text("CREATE INDEX i ON users (email);\n")
    code, out = run_cli(
        monkeypatch,
        capsys,
        ["--workspace", str(workspace_dir), "lint", "db/migration", "--format", "sarif"],
    )
    sarif = json.loads(out)
    assert code == 1 and sarif["version"] == "2.1.0"
    uris = [
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in sarif["runs"][0]["results"]
    ]
    assert uris.index("db/migration/V2__drop.sql") < uris.index("db/migration/V10__index.sql")
    rule_ids = {r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert {"pg-drop-table", "pg-create-index-nonconcurrent"} <= rule_ids


def test_alembic_sql_literals_are_linted_on_their_own_lines_inside_the_wrapping_transaction(
    monkeypatch, capsys, workspace_dir
):
    versions = workspace_dir / "alembic" / "versions"
    versions.mkdir(parents=True)
    (versions / "abc_add_index.py").write_text(
        'revision = "abc"\ndown_revision = None\n\n\ndef upgrade():\n'
        '    op.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (email)")\n'
    )
    _code, out = run_cli(
        monkeypatch,
        capsys,
        [
            "--workspace",
            str(workspace_dir),
            "lint",
            str(versions / "abc_add_index.py"),
            "--format",
            "json",
        ],
    )
    found = [(f["rule"], f["line"]) for f in json.loads(out)]
    assert ("pg-concurrently-in-transaction", 6) in found


def test_an_unknown_excluded_rule_is_a_user_error(monkeypatch, capsys, workspace_dir):
    code, _ = run_cli(
        monkeypatch,
        capsys,
        ["--workspace", str(workspace_dir), "lint", "--exclude", "nope"],
        "SELECT 1;",
    )
    assert code == 2


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_lint_migration_tool_returns_findings_with_fixes(workspace_dir, anyio_backend):
    server = build_server(Workspace.open(workspace_dir))
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["lint_migration"].annotations.read_only_hint is True
        result = await client.call_tool(
            "lint_migration",
            {
                "sql": "ALTER TABLE users ADD CONSTRAINT fk FOREIGN KEY (org_id) REFERENCES orgs (id);"
            },
        )
    data = result.structured_content
    assert data["errors"] >= 1 and data["truncated"] is False
    fk = next(f for f in data["findings"] if f["rule"] == "pg-add-foreign-key")
    assert "NOT VALID" in fk["fix"] and "VALIDATE CONSTRAINT fk" in fk["fix"]
