"""Every path trick against every file tool: refused with a clear error, nothing read or written.

The tricks are the ones filesystem MCP servers were bitten by: `..`, absolute paths elsewhere,
symlinks (file and directory) that leave the root, the prefix trick (`/x/ws-evil` next to
`/x/ws`), `~`, and NUL bytes. The outside directory is deliberately a prefix sibling of the root.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from datamigration.errors import (
    ConfirmationRequiredError,
    PathOutsideWorkspaceError,
    UserInputError,
)
from datamigration.workspace import files, search
from datamigration.workspace.root import Workspace
from datamigration.workspace.runner import check_policy, parse_command, run_command


@pytest.fixture
def setup(workspace_dir: Path) -> tuple[Workspace, Path]:
    outside = workspace_dir.parent / (workspace_dir.name + "-evil")  # prefix sibling
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET\n")
    (workspace_dir / "inside.txt").write_text("hello\n")
    os.symlink(outside, workspace_dir / "linkdir")
    os.symlink(outside / "secret.txt", workspace_dir / "linkfile.txt")
    return Workspace.open(workspace_dir), outside


def tricks(ws: Workspace, outside: Path) -> dict[str, str]:
    return {
        "dotdot": "../" + outside.name + "/secret.txt",
        "nested dotdot": "sub/../../" + outside.name + "/secret.txt",
        "absolute outside": str(outside / "secret.txt"),
        "prefix trick absolute": str(ws.root) + "-evil/secret.txt",
        "symlinked directory": "linkdir/secret.txt",
        "symlinked file": "linkfile.txt",
        "etc passwd": "/etc/passwd",
        "home": "~/.bashrc",
    }


TRICK_NAMES = [
    "dotdot",
    "nested dotdot",
    "absolute outside",
    "prefix trick absolute",
    "symlinked directory",
    "symlinked file",
    "etc passwd",
    "home",
]


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@pytest.mark.parametrize("trick", TRICK_NAMES)
def test_read_refuses_every_path_trick(setup, trick: str) -> None:
    ws, outside = setup
    with pytest.raises(PathOutsideWorkspaceError) as err:
        files.read_file(ws, tricks(ws, outside)[trick])
    assert "outside the workspace" in str(err.value)
    assert "TOP SECRET" not in str(err.value)


@pytest.mark.parametrize("trick", TRICK_NAMES)
def test_write_refuses_every_path_trick_and_writes_nothing(setup, trick: str) -> None:
    ws, outside = setup
    before_out, before_in = snapshot(outside), snapshot(ws.root)
    with pytest.raises(PathOutsideWorkspaceError):
        files.write_file(ws, tricks(ws, outside)[trick], "PWNED\n")
    assert snapshot(outside) == before_out
    assert snapshot(ws.root) == before_in


@pytest.mark.parametrize("trick", TRICK_NAMES)
def test_edit_refuses_every_path_trick_and_writes_nothing(setup, trick: str) -> None:
    ws, outside = setup
    before_out = snapshot(outside)
    with pytest.raises(PathOutsideWorkspaceError):
        files.edit_file(ws, tricks(ws, outside)[trick], "TOP", "PWNED")
    assert snapshot(outside) == before_out


def test_write_through_a_symlinked_parent_to_a_new_file_creates_nothing(setup) -> None:
    ws, outside = setup
    with pytest.raises(PathOutsideWorkspaceError):
        files.write_file(ws, "linkdir/new/deeper.txt", "PWNED\n")
    assert not (outside / "new").exists()


def test_a_nul_byte_in_a_path_is_refused(setup) -> None:
    ws, _ = setup
    with pytest.raises(PathOutsideWorkspaceError, match="NUL"):
        files.write_file(ws, "inside.txt\x00../../x", "x")


@pytest.mark.parametrize(
    "pattern",
    ["../*", "../**/*.txt", "/etc/*", "{..,x}/*", "sub/../../*"],
)
def test_glob_refuses_patterns_that_climb_or_start_outside(setup, pattern: str) -> None:
    ws, _ = setup
    with pytest.raises(PathOutsideWorkspaceError):
        search.glob_files(ws, pattern)


def test_glob_refuses_a_prefix_trick_absolute_pattern(setup) -> None:
    ws, _ = setup
    with pytest.raises(PathOutsideWorkspaceError):
        search.glob_files(ws, str(ws.root) + "-evil/*")


def test_glob_does_not_descend_a_symlinked_directory(setup) -> None:
    ws, _ = setup
    assert search.glob_files(ws, "**/*.txt").files == ["inside.txt"]
    assert search.glob_files(ws, "linkdir/*").files == []
    assert search.glob_files(ws, "linkdir/**").files == []


def test_glob_refuses_a_base_outside_the_workspace(setup) -> None:
    ws, outside = setup
    for base in ("..", str(outside), "linkdir"):
        with pytest.raises(PathOutsideWorkspaceError):
            search.glob_files(ws, "*", base=base)


def test_grep_never_reads_through_symlinks_that_leave(setup) -> None:
    ws, _ = setup
    result = search.grep_files(ws, "SECRET")
    assert result.matches == []
    assert result.files_matched == []


@pytest.mark.parametrize("path", ["..", "linkdir", "linkfile.txt", "/etc"])
def test_grep_refuses_a_path_outside_the_workspace(setup, path: str) -> None:
    ws, _ = setup
    with pytest.raises(PathOutsideWorkspaceError):
        search.grep_files(ws, "SECRET", path=path)


def test_write_refuses_git_internals(setup) -> None:
    ws, _ = setup
    (ws.root / ".git" / "hooks").mkdir(parents=True)
    with pytest.raises(PathOutsideWorkspaceError, match="version-control"):
        files.write_file(ws, ".git/hooks/pre-commit", "#!/bin/sh\nrm -rf ~\n")
    assert not (ws.root / ".git" / "hooks" / "pre-commit").exists()


def test_run_refuses_a_command_outside_the_allow_list_without_confirmation(setup) -> None:
    ws, _ = setup
    with pytest.raises(ConfirmationRequiredError) as err:
        run_command(ws, ["touch", "marker"])
    assert "touch" in str(err.value)
    assert not (ws.root / "marker").exists()


@pytest.mark.parametrize(
    "command",
    [
        "cat linkfile.txt",
        "cat linkdir/secret.txt",
        "cat ../ws-evil/secret.txt",
        "cat /etc/passwd",
        "git diff --output=marker",
        "git diff --output=../ws-evil/x",
        "git stash",
        "gitx status",
        "/usr/bin/ls",
        "psql --version -c 'drop table x'",
    ],
)
def test_run_needs_confirmation_for_tricks_around_the_allow_list(setup, command: str) -> None:
    ws, _ = setup
    assert not check_policy(ws, parse_command(command)).allowed
    with pytest.raises(ConfirmationRequiredError):
        run_command(ws, command)
    assert not (ws.root / "marker").exists()


@pytest.mark.parametrize(
    "command", ["ls; touch marker", "ls && touch marker", "ls | tee marker", "ls >marker"]
)
def test_run_refuses_shell_operators_instead_of_running_them(setup, command: str) -> None:
    ws, _ = setup
    with pytest.raises(UserInputError, match="shell syntax"):
        run_command(ws, command)
    assert not (ws.root / "marker").exists()


def test_run_through_a_shell_always_needs_confirmation(setup) -> None:
    ws, _ = setup
    with pytest.raises(ConfirmationRequiredError, match="shell"):
        run_command(ws, "ls", shell=True)


def test_a_symlink_loop_is_a_clear_error_for_the_file_tools_and_ignored_by_search(
    workspace_dir: Path,
) -> None:
    os.symlink("loop-b", workspace_dir / "loop-a")
    os.symlink("loop-a", workspace_dir / "loop-b")
    (workspace_dir / "ok.txt").write_text("fine\n")
    ws = Workspace.open(workspace_dir)
    with pytest.raises(UserInputError, match="cannot be resolved"):
        files.read_file(ws, "loop-a")
    with pytest.raises(UserInputError, match="cannot be resolved"):
        files.write_file(ws, "loop-a/x.txt", "x")
    assert search.glob_files(ws, "**").files == ["ok.txt"]
    assert search.glob_files(ws, "loop-a/*").files == []
    assert search.grep_files(ws, "fine").files_matched == ["ok.txt"]
