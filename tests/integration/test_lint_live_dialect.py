"""With --db and no --dialect, the linter judges SQL by the rules of the database it is given."""

import json
import sqlite3

import pytest

from datamigration.cli import main

pytestmark = pytest.mark.integration


def test_lint_with_a_sqlite_database_applies_sqlite_rules_not_postgres_ones(
    sqlite_url, workspace_dir, capsys
):
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id integer primary key, email text)")
    migration = workspace_dir / "m.sql"
    migration.write_text("ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n")

    code = main(["--workspace", str(workspace_dir), "lint", str(migration),
                 "--db", sqlite_url, "--format", "json"])  # fmt: skip

    findings = json.loads(capsys.readouterr().out)
    findings = findings["findings"] if isinstance(findings, dict) else findings
    rules = {f["rule"] for f in findings}
    assert any(r.startswith("sqlite-") for r in rules), rules
    assert not any(r.startswith("pg-") for r in rules), rules
    assert code in (0, 1)


def test_an_explicit_dialect_still_wins_over_the_database(sqlite_url, workspace_dir, capsys):
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id integer primary key, email text)")
    migration = workspace_dir / "m.sql"
    migration.write_text("CREATE INDEX users_email ON users (email);\n")

    main(["--workspace", str(workspace_dir), "lint", str(migration), "--db", sqlite_url,
          "--dialect", "postgres", "--format", "json"])  # fmt: skip

    out = json.loads(capsys.readouterr().out)
    findings = out["findings"] if isinstance(out, dict) else out
    assert any(f["rule"].startswith("pg-") for f in findings)
