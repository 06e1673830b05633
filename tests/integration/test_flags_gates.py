"""Rollout gates on a real PostgreSQL: validation rules and the health probe decide the step.

The scene is the feature-flag half of "rename users.email to email_address": the new column is
being backfilled, and the flag that makes the application read it may only go up a step when the
validation rules pass on the database and the database answers probes quickly and without error.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import yaml

from datamigration.cli import main
from datamigration.safety import flags
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration

FLAG = "read-email-address"


def run_sql(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for s in statements:
            conn.execute(s)


@pytest.fixture
def scene(pg_url: str, workspace_dir: Path) -> tuple[Workspace, str]:
    run_sql(
        pg_url,
        "CREATE TABLE users (id bigint PRIMARY KEY, email text, email_address text)",
        "INSERT INTO users SELECT g, 'u' || g || '@x.org', NULL FROM generate_series(1, 500) g",
    )
    rules = {
        "version": 1,
        "name": "email address backfilled",
        "target": pg_url,
        "rules": [
            {"id": "address-filled", "type": "not_null", "table": "users",
             "columns": ["email_address"], "on": "target"},
        ],
    }  # fmt: skip
    (workspace_dir / "gate.yaml").write_text(yaml.safe_dump(rules))
    ws = Workspace.open(workspace_dir)
    flags.set_flag(ws, FLAG)
    flags.rollout(ws, FLAG, 1)
    return ws, pg_url


def test_a_failing_validation_gate_stops_the_step_and_writes_nothing(scene):
    ws, _ = scene
    before = (ws.root / flags.DEFAULT_PATH).read_bytes()
    with pytest.raises(flags.GateFailedError) as err:
        flags.rollout(ws, FLAG, 10, gate=flags.Gate(rules="gate.yaml"))
    assert "address-filled" in err.value.message
    assert (ws.root / flags.DEFAULT_PATH).read_bytes() == before
    assert flags.get_flag(ws, FLAG)["percent"] == 1


def test_the_step_goes_ahead_once_validation_and_probe_pass(scene):
    ws, url = scene
    run_sql(url, "UPDATE users SET email_address = email")
    gate = flags.Gate(rules="gate.yaml", probe_url=url, probe_sql="SELECT count(*) FROM users")
    out = flags.rollout(ws, FLAG, 10, gate=gate)
    assert out["gated"] and all(c["passed"] for c in out["gate"])
    names = [c["name"] for c in out["gate"]]
    assert names == ["validation gate.yaml", "health probe"]
    assert out["gate"][1]["measured"]["samples"] == 20
    assert (ws.root / out["gate"][0]["measured"]["report"]).is_file()
    meta = flags.get_flag(ws, FLAG)["metadata"]
    assert meta["rolloutPercent"] == 10 and meta["rolloutGate"].startswith("passed:")


def test_a_probe_that_errors_fails_the_gate(scene):
    ws, url = scene
    gate = flags.Gate(probe_url=url, probe_sql="SELECT * FROM no_such_table", probe_samples=3)
    with pytest.raises(flags.GateFailedError, match="health probe"):
        flags.rollout(ws, FLAG, 10, gate=gate)
    assert flags.get_flag(ws, FLAG)["percent"] == 1


def test_a_probe_slower_than_its_limit_fails_the_gate(scene):
    ws, url = scene
    gate = flags.Gate(probe_url=url, probe_sql="SELECT pg_sleep(0.02)", probe_samples=3,
                      max_p95_ms=5)  # fmt: skip
    with pytest.raises(flags.GateFailedError, match="p95"):
        flags.rollout(ws, FLAG, 10, gate=gate)


def test_cli_gate_failure_exits_6_and_success_prints_the_checks(scene, capsys):
    ws, url = scene
    argv = ["--workspace", str(ws.root), "flags", "rollout", FLAG, "--percent", "10", "--yes",
            "--gate", "gate.yaml"]  # fmt: skip
    assert main(argv) == 6
    assert "Nothing was written" in capsys.readouterr().err
    run_sql(url, "UPDATE users SET email_address = email")
    assert main([*argv, "--probe-url", url]) == 0
    out = capsys.readouterr().out
    assert "1% -> 10%" in out and "gate ok" in out
