"""The CLI twins of the coordination tools: results, exit codes, and errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from datamigration.cli import main
from datamigration.coordination.status import record_validation
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.e2e


def cli(ws: Path, *argv: str) -> int:
    return main(["--workspace", str(ws), *argv])


def test_status_new_set_show_and_list(
    workspace_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(workspace_dir, "status", "new", "US-0042", "--title", "Migrate users") == 0
    assert cli(workspace_dir, "status", "set", "US-0042", "in-progress", "--field", "pr=12") == 0
    capsys.readouterr()
    assert cli(workspace_dir, "status", "show", "US-0042", "--json") == 0
    story = json.loads(capsys.readouterr().out)
    assert story["status"] == "in-progress" and story["pr"] == 12
    assert cli(workspace_dir, "status", "--status", "in_progress") == 0
    assert "US-0042" in capsys.readouterr().out
    assert cli(workspace_dir, "status", "--status", "done") == 0
    assert "no matching stories" in capsys.readouterr().out


def test_the_harness_rule_on_the_cli(
    workspace_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(workspace_dir, "status", "new", "US-1", "--title", "t", "--status", "in-progress")
    capsys.readouterr()
    assert cli(workspace_dir, "status", "set", "US-1", "in-review") == 4
    err = capsys.readouterr().err
    assert "HarnessRule" not in err and "Traceback" not in err
    assert "not passing" in err and "hint:" in err
    assert cli(workspace_dir, "status", "set", "US-1", "in-review", "--override-reason", "") == 2
    record_validation(Workspace.open(workspace_dir), "US-1", True, "all checks passed")
    assert cli(workspace_dir, "status", "set", "US-1", "in-review") == 0


def test_bus_post_read_questions_answer_and_rotate(
    workspace_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = workspace_dir / "bus" / "log.jsonl"
    log.parent.mkdir()
    log.write_text(
        '{"ts":"2025-06-02T09:00:00Z","from":"AG-DATABASE","to":"AG-DATAMIGRATION",'
        '"type":"question","story":"US-1","text":"Indexes needed?"}\nnot json\n'
    )
    assert cli(workspace_dir, "bus", "post", "--type", "finding", "--text", "plan ready") == 0
    capsys.readouterr()
    assert cli(workspace_dir, "bus", "questions", "--json") == 0
    (question,) = json.loads(capsys.readouterr().out)["questions"]
    assert cli(workspace_dir, "bus", "answer", question["id"], "--text", "Yes, one.") == 0
    assert cli(workspace_dir, "bus", "answer", question["id"], "--text", "again") == 4
    capsys.readouterr()
    assert cli(workspace_dir, "bus", "--type", "answer", "--json") == 0
    page = json.loads(capsys.readouterr().out)
    assert page["messages"][0]["to"] == "AG-DATABASE"
    assert page["malformed_lines"] == 1
    assert cli(workspace_dir, "bus", "rotate", "--force", "--keep", "1") == 0
    assert "moved 3 lines" in capsys.readouterr().out
    assert cli(workspace_dir, "bus", "--since", "someday") == 2


def test_adr_new_and_expertise(workspace_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(workspace_dir, "adr-new", "Dual write for users", "--decision", "Do it") == 0
    assert "docs/03-decisions/adr-0001-dual-write-for-users.md" in capsys.readouterr().out
    assert cli(workspace_dir, "adr-new", "Dual write for users") == 4
    capsys.readouterr()
    # No file yet: `show` gives the packaged default and says so; `validate` wants a file.
    assert cli(workspace_dir, "expertise") == 0
    assert "no expertise file yet at expertise/datamigration.yaml" in capsys.readouterr().out
    assert cli(workspace_dir, "expertise", "validate") == 2
    assert not (workspace_dir / "expertise").exists()
    assert cli(workspace_dir, "expertise", "learn", "--context", "c", "--insight", "i") == 0
    assert cli(workspace_dir, "expertise", "validate") == 0
    bad = workspace_dir / "expertise" / "datamigration.yaml"
    bad.write_text("domain: x\nversion: 1\nlast_updated: [\n")
    capsys.readouterr()
    assert cli(workspace_dir, "expertise", "validate") == 2
    err = capsys.readouterr().err
    assert "datamigration.yaml:4" in err and "Traceback" not in err


def test_a_malformed_status_file_fails_cleanly_from_a_real_process(workspace_dir: Path) -> None:
    (workspace_dir / "status.json").write_text('{"stories": {\n  "US-1": {"status": }\n}}\n')
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from datamigration.cli import main; sys.exit(main())",
         "--workspace", str(workspace_dir), "status", "set", "US-1", "in-progress"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "status.json:2" in proc.stderr and "Traceback" not in proc.stderr
    assert (
        workspace_dir / "status.json"
    ).read_text() == '{"stories": {\n  "US-1": {"status": }\n}}\n'


def test_bus_questions_finds_a_question_addressed_by_a_text_prefix(
    workspace_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = workspace_dir / "bus" / "log.jsonl"
    log.parent.mkdir()
    log.write_text(
        '{"ts":"2025-06-02T09:00:00Z","from":"AG-API","type":"question",'
        '"text":"AG-DATAMIGRATION: can orders move tonight?"}\n'
    )
    assert cli(workspace_dir, "bus", "questions", "--json") == 0
    (question,) = json.loads(capsys.readouterr().out)["questions"]
    assert question["from"] == "AG-API"
    assert cli(workspace_dir, "bus", "answer", question["id"], "--text", "Yes.", "--json") == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["to"] == "AG-API" and answer["extra"]["re"] == question["id"]
    assert json.loads(log.read_text().splitlines()[-1])["id"] == answer["id"]
    assert cli(workspace_dir, "bus", "questions") == 0
    assert "no open questions" in capsys.readouterr().out
