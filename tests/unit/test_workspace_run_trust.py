"""Issue 10, items 3 and 6: `run` executes no workspace code the user has not seen, and a child
never gets the server's secrets.

The attack: write conftest.py (no confirmation needed), then run the allow-listed pytest. Every
test of the guard plants code that would write a marker file outside the workspace, and proves
the refusal by the marker's absence.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

from datamigration.errors import ConfirmationRequiredError, ConflictError
from datamigration.workspace import files
from datamigration.workspace.codetrust import CodeTrust, take_snapshot
from datamigration.workspace.root import Workspace
from datamigration.workspace.runner import check_policy, parse_command, run_command

BIN = str(Path(sys.executable).parent)
ENV = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C"}


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "pwned"  # outside the workspace: writing it changes no snapshot


def open_ws(root: Path, toml: str = "") -> Workspace:
    if toml:
        (root / "datamigration.toml").write_text(toml)
    return Workspace.open(root)


def conftest_writing(marker: Path) -> str:
    return f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"


def test_the_conftest_exploit_is_refused_until_confirmed(workspace_dir: Path, marker: Path) -> None:
    ws = open_ws(workspace_dir)
    trust = CodeTrust()
    files.write_file(ws, "conftest.py", conftest_writing(marker))  # needs no confirmation
    with pytest.raises(ConfirmationRequiredError, match="may execute workspace code"):
        run_command(ws, "python -m pytest -q -s --co", env=ENV, trust=trust)
    assert not marker.exists()
    result = run_command(ws, "python -m pytest -q -s --co", env=ENV, trust=trust, confirmed=True)
    assert result.confirmed and marker.read_text() == "ran"


def test_a_confirmed_command_runs_again_unasked_while_nothing_changed(
    workspace_dir: Path,
) -> None:
    ws = open_ws(workspace_dir)
    trust = CodeTrust()
    (workspace_dir / "test_x.py").write_text("def test_ok():\n    assert True\n")
    first = run_command(ws, "python -m pytest -q", env=ENV, trust=trust, confirmed=True)
    assert first.exit_code == 0 and first.confirmed
    # The run wrote bytecode caches only; those do not cost the confirmation.
    again = run_command(ws, "python -m pytest -q", env=ENV, trust=trust)
    assert again.exit_code == 0 and not again.confirmed
    # Another command line is another decision.
    assert not check_policy(ws, parse_command("python -m pytest -x"), trust=trust).allowed


def test_changing_a_file_after_the_confirmation_asks_again_and_names_it(
    workspace_dir: Path, marker: Path
) -> None:
    ws = open_ws(workspace_dir)
    trust = CodeTrust()
    (workspace_dir / "test_x.py").write_text("def test_ok():\n    assert True\n")
    run_command(ws, "python -m pytest -q", env=ENV, trust=trust, confirmed=True)
    files.write_file(ws, "conftest.py", conftest_writing(marker))
    with pytest.raises(ConfirmationRequiredError, match=r"changed since.*conftest\.py"):
        run_command(ws, "python -m pytest -q", env=ENV, trust=trust)
    assert not marker.exists()


def test_setting_the_mtime_back_does_not_hide_a_change(workspace_dir: Path, marker: Path) -> None:
    ws = open_ws(workspace_dir)
    (workspace_dir / "conftest.py").write_text("# x\n" + " " * 200)
    before = take_snapshot(ws)
    trust = CodeTrust()
    trust.record(["python", "-m", "pytest"], before, before)
    st = os.stat(workspace_dir / "conftest.py")
    evil = conftest_writing(marker)
    (workspace_dir / "conftest.py").write_text(evil + " " * (st.st_size - len(evil)))
    os.utime(workspace_dir / "conftest.py", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(workspace_dir / "conftest.py").st_size == st.st_size
    with pytest.raises(ConfirmationRequiredError):
        run_command(ws, "python -m pytest", env=ENV, trust=trust)
    assert not marker.exists()


def test_a_token_answer_for_one_state_cannot_run_another(workspace_dir: Path, marker: Path) -> None:
    ws = open_ws(workspace_dir)
    (workspace_dir / "conftest.py").write_text("# harmless\n")
    seen = check_policy(ws, parse_command("python -m pytest"), trust=CodeTrust())
    files.write_file(ws, "conftest.py", conftest_writing(marker))
    with pytest.raises(ConflictError, match="changed after"):
        run_command(ws, "python -m pytest", env=ENV, confirmed=True, confirmed_state=seen.state)
    assert not marker.exists()


def _fake_program(directory: Path, name: str, script: str) -> None:
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.mark.parametrize(
    ("allow", "command", "plant"),
    [
        ("python", "python script.py", {"script.py": "{code}"}),
        ("python", "python -c {code_arg}", {}),
        ("make test", "make test", {"Makefile": "test:\n\t@python -c {code_arg}\n"}),
        (
            "npm test",
            "npm test",
            {"package.json": json.dumps({"scripts": {"test": "python t.py"}}), "t.py": "{code}"},
        ),
        ("alembic history", "alembic history", {"env.py": "{code}"}),
    ],
)
def test_every_listed_command_that_runs_workspace_code_asks_first(
    workspace_dir: Path, tmp_path: Path, marker: Path, allow: str, command: str, plant: dict
) -> None:
    if command.startswith(("make", "npm")) and not shutil.which(command.split()[0]):
        pytest.skip(f"{command.split()[0]} is not installed")
    # `alembic` stands in as a program outside the workspace that runs the workspace's env.py.
    _fake_program(tmp_path / "bin", "alembic", f"#!/bin/sh\nexec {sys.executable} env.py\n")
    env = {**ENV, "PATH": f"{tmp_path / 'bin'}:{ENV['PATH']}"}
    code = f"import pathlib; pathlib.Path({str(marker)!r}).write_text('ran')"
    code_arg = json.dumps(code)
    for name, text in plant.items():
        (workspace_dir / name).write_text(
            text.replace("{code}", code).replace("{code_arg}", code_arg)
        )
    ws = open_ws(workspace_dir, f'[run]\nallow = ["{allow}"]\n')
    command = command.replace("{code_arg}", code_arg)
    trust = CodeTrust()
    with pytest.raises(ConfirmationRequiredError):
        run_command(ws, command, env=env, trust=trust)
    assert not marker.exists()
    result = run_command(ws, command, env=env, trust=trust, confirmed=True)
    assert marker.exists(), result
    assert marker.read_text() == "ran"


def test_a_program_inside_the_workspace_is_not_the_read_only_command_it_names(
    workspace_dir: Path, marker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_program(workspace_dir / "bin", "cat", f"#!/bin/sh\ntouch {marker}\n")
    monkeypatch.setenv("PATH", f"{workspace_dir / 'bin'}:{ENV['PATH']}")
    ws = open_ws(workspace_dir)
    decision = check_policy(ws, ["cat", "x"], trust=CodeTrust())
    assert not decision.allowed and "inside the workspace" in decision.reason
    with pytest.raises(ConfirmationRequiredError):
        run_command(ws, ["cat", "x"], trust=CodeTrust())
    assert not marker.exists()


@pytest.mark.parametrize("command", ["tree -o listing.txt", "tree -aoR x", "file -C -m magic"])
def test_read_only_commands_with_options_that_write_ask_first(
    workspace_dir: Path, command: str
) -> None:
    ws = open_ws(workspace_dir)
    assert not check_policy(ws, parse_command(command)).allowed
    with pytest.raises(ConfirmationRequiredError, match="writes files"):
        run_command(ws, command)
    assert list(workspace_dir.iterdir()) == []


def test_git_refuses_a_bare_repository_planted_as_workspace_files(workspace_dir: Path) -> None:
    if not shutil.which("git"):
        pytest.skip("git is not installed")
    ws = open_ws(workspace_dir)
    # What a model could write with the file tools: HEAD, config, objects/, refs/ at the root.
    files.write_file(ws, "HEAD", "ref: refs/heads/main\n")
    files.write_file(ws, "config", "[core]\n\trepositoryformatversion = 0\n\tbare = true\n")
    files.write_file(ws, "objects/info/keep", "")
    files.write_file(ws, "refs/heads/keep", "")
    result = run_command(ws, "git rev-parse --git-dir", env=ENV)
    assert result.exit_code != 0 and "bare repository" in result.stderr


# --- item 6: the child's environment --------------------------------------------------------

SECRETS = {
    "MYSQL_PWD": "mysql-secret-1",
    "DB_PWD": "db-secret-2",
    "PGDSN": "host=db password=dsn-secret-3",
    "APP_DB_PW": "app-secret-4",
    "PGPASSWORD": "pg-secret-5",
    "DATABASE_URL": "postgresql://app:url-secret-6@db/app",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-7",
    "GITHUB_TOKEN": "gh-secret-8",
    "OPENAI_API_KEY": "key-secret-9",
    "SOME_SERVICE": "not allow-listed-10",
    "HOME": "https://u:home-secret-11@example.com",  # an allow-listed name, a secret value
}


def env_of_child(ws: Workspace, env: dict[str, str]) -> dict[str, str]:
    script = "import json, os; print(json.dumps(dict(os.environ)))"
    result = run_command(ws, ["python", "-c", script], env=env, confirmed=True)
    return json.loads(result.stdout)


def test_the_child_gets_no_secret_by_name_value_or_config_reference(workspace_dir: Path) -> None:
    ws = open_ws(
        workspace_dir,
        '[connections]\napp = "postgresql://app:${APP_DB_PW}@db/app"\n',
    )
    child = env_of_child(ws, {**ENV, **SECRETS, "LC_ALL": "C", "TERM": "dumb"})
    assert not set(SECRETS) & set(child)
    assert not any(s in json.dumps(child) for s in SECRETS.values())
    assert child["LANG"] == "C" and child["LC_ALL"] == "C" and child["TERM"] == "dumb"
    assert child["PWD"] == str(ws.root)


def test_pass_env_adds_names_but_never_one_the_config_references(workspace_dir: Path) -> None:
    ws = open_ws(
        workspace_dir,
        '[connections]\napp = "postgresql://app:${APP_DB_PW}@db/app"\n'
        '[run]\npass_env = ["TEST_DATABASE_URL", "APP_DB_PW", "DJANGO_SETTINGS_MODULE"]\n',
    )
    env = {
        **ENV,
        "TEST_DATABASE_URL": "postgresql://t:t@localhost/test",
        "APP_DB_PW": "app-secret-4",
        "DJANGO_SETTINGS_MODULE": "app.settings",
    }
    child = env_of_child(ws, env)
    assert child["TEST_DATABASE_URL"] == "postgresql://t:***@localhost/test"  # output is redacted
    assert child["DJANGO_SETTINGS_MODULE"] == "app.settings"
    assert "APP_DB_PW" not in child


def test_relative_path_entries_are_dropped(workspace_dir: Path) -> None:
    ws = open_ws(workspace_dir)
    child = env_of_child(ws, {**ENV, "PATH": f"bin::.:{BIN}:/usr/bin:/bin:"})
    assert child["PATH"] == f"{BIN}:/usr/bin:/bin"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux-only")
def test_the_server_hides_its_own_environment_from_children(workspace_dir: Path) -> None:
    run_command(open_ws(workspace_dir), ["echo"], env=ENV)
    pr_get_dumpable = 3
    assert ctypes.CDLL(None).prctl(pr_get_dumpable, 0, 0, 0, 0) == 0
