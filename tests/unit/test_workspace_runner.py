"""run: allow-list policy from datamigration.toml, no shell, cwd, timeout, output cap, clean env."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from datamigration.errors import NotFoundError, UserInputError
from datamigration.redact import register_secret
from datamigration.workspace.root import Workspace
from datamigration.workspace.runner import (
    RunPolicy,
    check_policy,
    parse_command,
    run_command,
)

PY = sys.executable


def make_ws(root: Path, toml: str = "") -> Workspace:
    if toml:
        (root / "datamigration.toml").write_text(toml)
    return Workspace.open(root)


def test_builtin_read_only_commands_are_allowed(workspace_dir: Path) -> None:
    ws = make_ws(workspace_dir)
    for command in ("ls -la", "git status --short", "git log -n 3", "psql --version"):
        decision = check_policy(ws, parse_command(command))
        assert decision.allowed and not decision.runs_code, command


def test_builtin_commands_that_run_workspace_code_are_listed_but_ask(workspace_dir: Path) -> None:
    ws = make_ws(workspace_dir)
    for command in ("pytest -q", "python -m pytest", "alembic history", "npx prisma --version"):
        decision = check_policy(ws, parse_command(command))
        assert decision.matched and decision.runs_code and not decision.allowed, command


def test_an_entry_is_a_token_prefix_not_a_string_prefix(workspace_dir: Path) -> None:
    ws = make_ws(workspace_dir)
    assert check_policy(ws, ["git", "status"]).allowed
    assert not check_policy(ws, ["git", "stash"]).allowed
    assert not check_policy(ws, ["lsblk"]).allowed


def test_an_exact_entry_allows_only_that_command(workspace_dir: Path) -> None:
    ws = make_ws(workspace_dir)
    assert check_policy(ws, ["psql", "--version"]).allowed
    assert not check_policy(ws, ["psql", "--version", "-f", "x.sql"]).allowed


def test_config_adds_entries_to_the_allow_list(workspace_dir: Path) -> None:
    ws = make_ws(workspace_dir, '[run]\nallow = ["make test", "alembic upgrade head"]\n')
    # Covered by an entry, but they run workspace code: allowed once confirmed (codetrust).
    assert check_policy(ws, ["make", "test"]).matched == "make test"
    assert check_policy(ws, ["alembic", "upgrade", "head"]).matched == "alembic upgrade head"
    assert check_policy(ws, ["alembic", "downgrade", "base"]).matched is None
    assert check_policy(ws, ["ls"]).allowed  # defaults kept


def test_config_can_drop_the_builtin_defaults(workspace_dir: Path) -> None:
    ws = make_ws(workspace_dir, '[run]\ndefaults = false\nallow = ["git status"]\n')
    assert not check_policy(ws, ["ls"]).allowed
    assert check_policy(ws, ["git", "status"]).allowed


def test_a_malformed_run_section_is_a_clear_error(workspace_dir: Path) -> None:
    with pytest.raises(UserInputError, match="list of strings"):
        RunPolicy.from_config({"allow": "pytest"})


def test_run_executes_in_the_workspace_root_without_a_shell(workspace_dir: Path) -> None:
    ws = make_ws(workspace_dir)
    (workspace_dir / "marker.txt").write_text("x")
    r = run_command(ws, "ls")
    assert r.exit_code == 0 and "marker.txt" in r.stdout and not r.confirmed
    # `*` is passed literally: no shell expands it.
    r = run_command(ws, "ls '*.txt'")
    assert r.exit_code != 0


def test_a_confirmed_command_outside_the_list_runs(workspace_dir: Path) -> None:
    ws = make_ws(workspace_dir)
    r = run_command(ws, ["touch", "made.txt"], confirmed=True)
    assert r.exit_code == 0 and r.confirmed
    assert (workspace_dir / "made.txt").exists()


def test_a_non_zero_exit_is_a_result_not_an_error(workspace_dir: Path) -> None:
    ws = make_ws(workspace_dir)
    r = run_command(
        ws, [PY, "-c", "import sys; print('bad', file=sys.stderr); sys.exit(3)"], confirmed=True
    )
    assert r.exit_code == 3 and "bad" in r.stderr


def test_run_kills_a_command_at_the_timeout(workspace_dir: Path) -> None:
    ws = make_ws(workspace_dir)
    r = run_command(ws, [PY, "-c", "import time; time.sleep(30)"], confirmed=True, timeout=0.5)
    assert r.timed_out and r.exit_code is None
    assert r.duration_s < 10


def test_run_caps_output_keeping_head_and_tail(workspace_dir: Path) -> None:
    ws = make_ws(workspace_dir, "[run]\nmax_output = 1000\n")
    code = "print('FIRST'); print('x' * 100000); print('LAST')"
    r = run_command(ws, [PY, "-c", code], confirmed=True)
    assert r.truncated
    assert len(r.stdout) < 1200
    assert r.stdout.startswith("FIRST") and r.stdout.rstrip().endswith("LAST")
    assert "bytes omitted" in r.stdout


def test_run_strips_secrets_from_the_environment(workspace_dir: Path) -> None:
    ws = make_ws(workspace_dir)
    env = {"PATH": "/usr/bin:/bin", "PGPASSWORD": "s3cret-pw", "API_TOKEN": "tok", "LANG": "C"}
    r = run_command(ws, ["env"], confirmed=True, env=env)
    assert "PGPASSWORD" not in r.stdout and "API_TOKEN" not in r.stdout
    assert "LANG=C" in r.stdout


def test_run_redacts_registered_secrets_in_output(workspace_dir: Path) -> None:
    ws = make_ws(workspace_dir)
    register_secret("hunter2-very-secret")
    r = run_command(ws, ["echo", "pw=hunter2-very-secret"])
    assert "hunter2" not in r.stdout and "***" in r.stdout


def test_run_of_a_missing_program_is_not_found(workspace_dir: Path) -> None:
    ws = make_ws(workspace_dir)
    with pytest.raises(NotFoundError, match="not found"):
        run_command(ws, ["no-such-program-xyz"], confirmed=True)


def test_run_refuses_an_empty_or_unparseable_command(workspace_dir: Path) -> None:
    ws = make_ws(workspace_dir)
    with pytest.raises(UserInputError):
        run_command(ws, "   ")
    with pytest.raises(UserInputError, match="parse"):
        run_command(ws, "echo 'unclosed")


def test_a_confirmed_shell_command_runs_through_bash(workspace_dir: Path) -> None:
    ws = make_ws(workspace_dir)
    r = run_command(ws, "echo a && echo b", shell=True, confirmed=True)
    assert r.stdout.split() == ["a", "b"]
