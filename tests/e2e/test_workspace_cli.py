"""The CLI twins of the workspace tools: same rules, exit codes, `--yes` as confirmation."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from datamigration.cli import main

pytestmark = pytest.mark.e2e


def cli(ws: Path, *argv: str) -> int:
    return main(["--workspace", str(ws), *argv])


def test_write_read_edit_and_json(workspace_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(workspace_dir, "write", "db/001.sql", "--content", "SELECT 1;\n") == 0
    assert cli(workspace_dir, "edit", "db/001.sql", "--old", "1", "--new", "2") == 0
    capsys.readouterr()
    assert cli(workspace_dir, "read", "db/001.sql") == 0
    assert capsys.readouterr().out == "SELECT 2;\n"
    assert cli(workspace_dir, "read", "db/001.sql", "--json") == 0
    assert json.loads(capsys.readouterr().out)["total_lines"] == 1


def test_write_reads_stdin_when_no_content_is_given(
    workspace_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("from stdin\n"))
    assert cli(workspace_dir, "write", "a.txt") == 0
    assert (workspace_dir / "a.txt").read_text() == "from stdin\n"


def test_read_with_offset_and_limit_says_how_to_continue(
    workspace_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace_dir / "a.txt").write_text("1\n2\n3\n4\n")
    assert cli(workspace_dir, "read", "a.txt", "--offset", "2", "--limit", "2") == 0
    captured = capsys.readouterr()
    assert captured.out == "2\n3\n"
    assert "--offset 4" in captured.err


def test_path_tricks_fail_with_a_clear_error_and_write_nothing(
    workspace_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = workspace_dir.parent / "ws-evil"
    outside.mkdir()
    os.symlink(outside, workspace_dir / "escape")
    for path in ("../ws-evil/x.txt", f"{outside}/x.txt", "escape/x.txt"):
        assert cli(workspace_dir, "write", path, "--content", "PWNED") == 2
        assert "outside the workspace" in capsys.readouterr().err
    assert list(outside.iterdir()) == []


def test_an_ambiguous_edit_exits_non_zero(
    workspace_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace_dir / "a.sql").write_text("x x\n")
    assert cli(workspace_dir, "edit", "a.sql", "--old", "x", "--new", "y") != 0
    assert "2 times" in capsys.readouterr().err
    assert cli(workspace_dir, "edit", "a.sql", "--old", "x", "--new", "y", "--all") == 0
    assert (workspace_dir / "a.sql").read_text() == "y y\n"


def test_glob_and_grep_print_paths_and_lines(
    workspace_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace_dir / "db").mkdir()
    (workspace_dir / "db" / "001.sql").write_text("create table t();\nselect 1;\n")
    assert cli(workspace_dir, "glob", "**/*.sql") == 0
    assert capsys.readouterr().out == "db/001.sql\n"
    assert cli(workspace_dir, "grep", "select", "--glob", "*.sql") == 0
    assert capsys.readouterr().out == "db/001.sql:2:select 1;\n"
    assert cli(workspace_dir, "grep", "nothing-here") == 1


def test_run_outside_the_allow_list_needs_yes(
    workspace_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(workspace_dir, "run", "--", "touch", "marker") == 3
    assert "needs confirmation" in capsys.readouterr().err
    assert not (workspace_dir / "marker").exists()
    assert cli(workspace_dir, "run", "--yes", "--", "touch", "marker") == 0
    assert (workspace_dir / "marker").exists()


def test_run_passes_the_exit_code_and_the_timeout_exit_code(workspace_dir: Path) -> None:
    py = sys.executable
    assert cli(workspace_dir, "run", "--yes", "--", py, "-c", "raise SystemExit(7)") == 7
    code = "import time; time.sleep(30)"
    assert cli(workspace_dir, "run", "--yes", "--timeout", "0.3", "--", py, "-c", code) == 124


def test_run_allowed_by_the_workspace_config(
    workspace_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace_dir / "datamigration.toml").write_text('[run]\nallow_always = ["touch"]\n')
    assert cli(workspace_dir, "run", "--", "touch", "marker") == 0
    assert (workspace_dir / "marker").exists()


def test_run_of_a_listed_command_that_runs_workspace_code_needs_yes_on_the_cli(
    workspace_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace_dir / "datamigration.toml").write_text('[run]\nallow = ["touch"]\n')
    assert cli(workspace_dir, "run", "--", "touch", "marker") == 3
    assert not (workspace_dir / "marker").exists()
    err = capsys.readouterr().err
    assert "may execute workspace code" in err and "Traceback" not in err
    assert cli(workspace_dir, "run", "--yes", "--", "touch", "marker") == 0
    assert (workspace_dir / "marker").exists()


def test_migrations_lists_the_detected_folders(
    workspace_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace_dir / "db" / "migrate").mkdir(parents=True)
    (workspace_dir / "db" / "migrate" / "20240101000000_create_users.rb").write_text("")
    assert cli(workspace_dir, "migrations") == 0
    assert "rails" in capsys.readouterr().out
    assert cli(workspace_dir, "migrations", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["directory"] == "db/migrate"


def test_the_console_script_honours_the_workspace_environment_variable(
    workspace_dir: Path, tmp_path: Path
) -> None:
    (workspace_dir / "hello.txt").write_text("hi\n")
    env = {**os.environ, "DATAMIGRATION_WORKSPACE": str(workspace_dir)}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "datamigration"), "read", "hello.txt"],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hi\n"
