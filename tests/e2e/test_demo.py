"""`datamigration demo` does what its report says: every claimed file, row and message exists."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CLI = str(Path(sys.executable).parent / "datamigration")


def run_demo(directory: Path, *extra: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, "demo", "--dir", str(directory), *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, float]:
    directory = tmp_path_factory.mktemp("demo") / "ws"
    started = time.perf_counter()
    proc = run_demo(directory, "--json")
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return directory, json.loads(proc.stdout), seconds


def steps_of(report: dict) -> dict[str, dict]:
    return {s["key"]: s for s in report["steps"]}


def test_demo_finishes_well_under_a_minute_with_every_step_done(demo):
    _, report, seconds = demo
    assert seconds < 30
    assert report["ok"] is True
    not_done = {s["key"]: s["summary"] for s in report["steps"] if s["status"] != "done"}
    assert not not_done


def test_demo_files_it_names_exist(demo):
    directory, report, _ = demo
    for step in report["steps"]:
        for name in step["files"]:
            assert (directory / name).exists(), f"{step['key']} claims {name}"


def test_demo_database_holds_the_rows_it_reports(demo):
    directory, report, _ = demo
    claimed = steps_of(report)["sample_database"]["data"]
    with sqlite3.connect(directory / "app.db") as conn:
        users = conn.execute("SELECT count(*) FROM users").fetchone()[0]
        orders = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
        no_country = conn.execute("SELECT count(*) FROM users WHERE country IS NULL").fetchone()[0]
    assert (users, orders) == (claimed["users"], claimed["orders"])
    assert users >= 100 and orders >= 100
    precheck = steps_of(report)["precheck_query"]["data"]
    assert precheck["users_without_country"] == no_country > 0
    assert precheck["users_total"] == users


def test_demo_inspection_matches_the_database(demo):
    _, report, _ = demo
    sample = steps_of(report)["sample_database"]["data"]
    tables = steps_of(report)["inspect"]["data"]["tables"]
    assert set(tables) == {"users", "orders"}
    assert tables["users"]["rows"] == sample["users"]
    assert tables["orders"]["rows"] == sample["orders"]
    assert "user_id" in tables["orders"]["columns"]


def test_demo_read_only_guard_refused_the_delete_and_no_row_was_lost(demo):
    directory, report, _ = demo
    guard = steps_of(report)["read_only_guard"]["data"]
    assert guard["orders_before"] == guard["orders_after"]
    with sqlite3.connect(directory / "app.db") as conn:
        refunded = conn.execute("SELECT count(*) FROM orders WHERE status='refunded'").fetchone()[0]
    assert refunded > 0


def test_demo_story_is_in_progress_and_owned_by_the_agent(demo):
    directory, _, _ = demo
    story = json.loads((directory / "status.json").read_text())["stories"]["US-0001"]
    assert story["status"] == "in-progress"
    assert story["owner"] == "AG-DATAMIGRATION"


def test_demo_bus_carries_creation_plan_and_question(demo):
    directory, _, _ = demo
    lines = (directory / "bus" / "log.jsonl").read_text().splitlines()
    messages = [json.loads(line) for line in lines]
    types = [m["type"] for m in messages]
    assert "story-created" in types and "question" in types
    assert any("expand-contract" in m["text"] for m in messages)
    assert all(m["story"] == "US-0001" and m["from"] == "AG-DATAMIGRATION" for m in messages)


def test_demo_text_report_names_every_step(tmp_path):
    proc = run_demo(tmp_path / "ws")
    assert proc.returncode == 0, proc.stderr
    assert "AG-DATAMIGRATION demo" in proc.stdout
    assert "US-0001" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1].startswith("ok:")


def test_demo_runs_again_in_its_own_directory(tmp_path):
    directory = tmp_path / "ws"
    assert run_demo(directory, "--json").returncode == 0
    again = run_demo(directory, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["ok"] is True
    # Replaced, not appended to: one story creation on the bus.
    bus = (directory / "bus" / "log.jsonl").read_text()
    assert bus.count('"story-created"') == 1


def test_demo_refuses_a_directory_it_did_not_create(tmp_path):
    directory = tmp_path / "project"
    directory.mkdir()
    precious = directory / "keep.txt"
    precious.write_text("mine")
    proc = run_demo(directory)
    assert proc.returncode == 4
    assert "not created by `datamigration demo`" in proc.stderr
    assert "hint:" in proc.stderr
    assert precious.read_text() == "mine"
    assert sorted(p.name for p in directory.iterdir()) == ["keep.txt"]


def test_demo_default_directory_is_relative_to_where_it_runs(tmp_path):
    proc = subprocess.run(
        [CLI, "demo", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert Path(json.loads(proc.stdout)["workspace"]) == (tmp_path / "datamigration-demo").resolve()


def test_demo_lint_finds_the_blocking_statements_and_writes_their_safe_rewrite(demo):
    directory, report, _ = demo
    lint = steps_of(report)["lint_migration"]
    assert (directory / "migrations" / "0002_orders_by_user.sql").is_file()
    assert set(lint["data"]["errors"]) >= {
        "pg-create-index-nonconcurrent",
        "pg-add-foreign-key",
        "pg-set-not-null",
        "pg-change-column-type",
    }
    safe = (directory / "migrations" / "0002_orders_by_user.safe.sql").read_text()
    assert "CREATE INDEX CONCURRENTLY" in safe
    assert "NOT VALID" in safe and "VALIDATE CONSTRAINT" in safe
    assert "SET lock_timeout" in safe


def test_demo_adr_records_the_decision_with_its_sections(demo):
    directory, report, _ = demo
    adr = steps_of(report)["write_adr"]["data"]
    assert adr["adr"] == "ADR-0001"
    assert adr["path"].startswith("docs/03-decisions/adr-0001-")
    text = (directory / adr["path"]).read_text()
    assert text.startswith("# ADR-0001: ")
    for section in ("## Context", "## Decision", "## Consequences", "## Alternatives Considered"):
        assert section in text
    assert "CONCURRENTLY" in text and "US-0001" in text
    bus = (directory / "bus" / "log.jsonl").read_text()
    assert '"adr-created"' in bus


def test_demo_learning_is_appended_to_a_valid_expertise_file(demo):
    import jsonschema
    import yaml

    directory, report, _ = demo
    data = yaml.safe_load((directory / "expertise" / "datamigration.yaml").read_text())
    schema_path = Path(__file__).resolve().parents[2] / "server/datamigration/schemas"
    schema = json.loads((schema_path / "expertise.schema.json").read_text())
    jsonschema.validate(json.loads(json.dumps(data, default=str)), schema)
    (learning,) = data["learnings"]
    assert "users had no country" in learning["insight"]
    assert steps_of(report)["learn"]["data"]["learning"]["insight"] == learning["insight"]


def test_demo_validation_fails_on_missing_countries_and_the_harness_rule_holds(demo):
    directory, report, _ = demo
    gate = steps_of(report)["validate_and_gate"]
    assert gate["data"]["passed"] is False
    assert gate["data"]["failed"] == ["users-country-required"]
    assert gate["data"]["review_gate"] == "refused"
    story = json.loads((directory / "status.json").read_text())["stories"]["US-0001"]
    assert story["status"] == "in-progress"
    assert story["test_status"] == "failing"
    reports = [f for f in gate["files"] if f.endswith(".json")]
    (report_path,) = reports
    saved = json.loads((directory / report_path).read_text())
    (failed,) = [r for r in saved["results"] if not r["passed"]]
    assert failed["measured"] == steps_of(report)["precheck_query"]["data"]["users_without_country"]
