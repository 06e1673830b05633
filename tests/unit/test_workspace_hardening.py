"""Issue 10, items 9, 10 and 11: grep cannot hang, over-long names are clear errors, and every
spelling of a protected name (`.GIT`, `.git.`, `.git `) is refused by the write tools.

Each guard test proves nothing happened: the workspace's files are compared before and after.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamigration.errors import (
    ConfirmationRequiredError,
    PathOutsideWorkspaceError,
    UserInputError,
)
from datamigration.workspace import files, search
from datamigration.workspace.root import Workspace

LONG = "a" * 256  # one byte over NAME_MAX


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


# --- item 9: grep and glob match in linear time ---------------------------------------------


@pytest.mark.timeout(30)
def test_grep_answers_a_catastrophic_backtracking_pattern_promptly(workspace_dir: Path) -> None:
    (workspace_dir / "evil.txt").write_text("a" * 100_000 + "!\n" + "aaa\n")
    result = search.grep_files(Workspace.open(workspace_dir), "(a+)+$")
    # Python's re never finished the first line; RE2 answers, and correctly: only `aaa` ends in a.
    assert [(m.path, m.line) for m in result.matches] == [("evil.txt", 2)]


@pytest.mark.timeout(30)
def test_grep_answers_nested_quantifiers_with_ignore_case_and_files_only(
    workspace_dir: Path,
) -> None:
    (workspace_dir / "evil.txt").write_text("A" * 50_000 + "!\n")
    ws = Workspace.open(workspace_dir)
    for regex in ("(a|aa)+$", "(a*)*b", "(.*a){20}$"):
        result = search.grep_files(ws, regex, ignore_case=True, files_only=True)
        assert result.files_matched == [], regex


@pytest.mark.timeout(30)
def test_glob_answers_a_pattern_of_many_stars_against_a_long_name(workspace_dir: Path) -> None:
    (workspace_dir / ("a" * 200)).write_text("x")
    (workspace_dir / "ab").write_text("x")
    result = search.glob_files(Workspace.open(workspace_dir), "*a" * 15 + "*b")
    assert result.files == []
    assert search.glob_files(Workspace.open(workspace_dir), "*a*b").files == ["ab"]


@pytest.mark.parametrize(
    ("regex", "feature"),
    [(r"(a)\1", "backreferences"), (r"foo(?=bar)", "lookahead"), (r"(?<=x)y", "lookbehind")],
)
def test_grep_refuses_a_backtracking_only_pattern_with_a_hint(
    workspace_dir: Path, regex: str, feature: str
) -> None:
    (workspace_dir / "f.txt").write_text("aa foobar xy\n")
    with pytest.raises(UserInputError, match="not supported by grep's RE2 engine") as err:
        search.grep_files(Workspace.open(workspace_dir), regex)
    assert feature in err.value.hint


def test_grep_still_calls_a_broken_pattern_invalid(workspace_dir: Path) -> None:
    with pytest.raises(UserInputError, match="invalid regular expression"):
        search.grep_files(Workspace.open(workspace_dir), "(unclosed")


# --- item 10: a path component over 255 bytes -----------------------------------------------


@pytest.mark.parametrize("path", [LONG, f"sub/{LONG}/x.sql", f"{LONG}.sql", "é" * 128])
def test_every_file_tool_refuses_an_over_long_name_with_a_hint(
    workspace_dir: Path, path: str
) -> None:
    (workspace_dir / "keep.txt").write_text("x\n")
    ws = Workspace.open(workspace_dir)
    before = snapshot(workspace_dir)
    calls = {
        "read": lambda: files.read_file(ws, path),
        "write": lambda: files.write_file(ws, path, "x"),
        "edit": lambda: files.edit_file(ws, path, "a", "b"),
        "glob base": lambda: search.glob_files(ws, "*", base=path),
        "glob pattern": lambda: search.glob_files(ws, path + "/*.sql"),
        "grep": lambda: search.grep_files(ws, "x", path=path),
    }
    for name, call in calls.items():
        with pytest.raises(UserInputError, match="255 bytes") as err:
            call()
        assert "Shorten" in err.value.hint, name
    assert snapshot(workspace_dir) == before


def test_a_path_longer_than_the_system_limit_is_a_clear_error(workspace_dir: Path) -> None:
    path = "/".join(["d" * 200] * 25)
    with pytest.raises(UserInputError, match="4095-byte limit"):
        files.write_file(Workspace.open(workspace_dir), path, "x")
    assert snapshot(workspace_dir) == {}


def test_a_name_of_exactly_255_bytes_still_works(workspace_dir: Path) -> None:
    ws = Workspace.open(workspace_dir)
    files.write_file(ws, "b" * 255, "ok\n")
    assert files.read_file(ws, "b" * 255).content == "ok\n"


# --- item 11: every spelling of a protected name --------------------------------------------

PROTECTED_SPELLINGS = [
    ".GIT/hooks/pre-commit",
    ".git./hooks/pre-commit",
    ".git /hooks/pre-commit",
    ".Git/config",
    ".git. . /config",
    ".git::$INDEX_ALLOCATION/hooks/pre-commit",
    ".g\u200cit/hooks/pre-commit",
    "GIT~1/config",
    "sub/.GIT/hooks/post-checkout",
    ".HG/hgrc",
    ".svn./entries",
]


@pytest.mark.parametrize("path", PROTECTED_SPELLINGS)
def test_write_refuses_every_spelling_of_vcs_internals(workspace_dir: Path, path: str) -> None:
    (workspace_dir / ".git" / "hooks").mkdir(parents=True)
    ws = Workspace.open(workspace_dir)
    with pytest.raises(PathOutsideWorkspaceError, match="version-control"):
        files.write_file(ws, path, "#!/bin/sh\ntouch /tmp/pwned\n")
    assert snapshot(workspace_dir) == {}
    assert sorted(p.name for p in workspace_dir.iterdir()) == [".git"]


@pytest.mark.parametrize("path", PROTECTED_SPELLINGS)
def test_edit_refuses_every_spelling_of_vcs_internals(workspace_dir: Path, path: str) -> None:
    # On Linux these are distinct files; on macOS and Windows they would be .git's own.
    target = workspace_dir / path
    target.parent.mkdir(parents=True)
    target.write_text("[core]\n")
    ws = Workspace.open(workspace_dir)
    before = snapshot(workspace_dir)
    with pytest.raises(PathOutsideWorkspaceError, match="version-control"):
        files.edit_file(ws, path, "[core]", "[core]\nfsmonitor = touch /tmp/pwned")
    assert snapshot(workspace_dir) == before


def test_names_that_only_look_alike_stay_writable(workspace_dir: Path) -> None:
    ws = Workspace.open(workspace_dir)
    for path in (".github/workflows/ci.yml", ".gitignore", "git/x", ".gitx/y", "a.git/b"):
        files.write_file(ws, path, "x\n")
        assert (workspace_dir / path).read_text() == "x\n"


@pytest.mark.parametrize(
    "path",
    ["DATAMIGRATION.TOML", "datamigration.toml.", "Datamigration.Toml ", "datamigration.toml"],
)
def test_every_spelling_of_the_policy_file_needs_confirmation(
    workspace_dir: Path, path: str
) -> None:
    ws = Workspace.open(workspace_dir)
    with pytest.raises(ConfirmationRequiredError, match="workspace policy"):
        files.write_file(ws, path, '[run]\nallow = ["bash"]\n')
    assert snapshot(workspace_dir) == {}
    assert files.change_needs_confirmation(ws, path) is not None
    assert files.change_needs_confirmation(ws, "sub/" + path) is None


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet="ab \r\n", max_size=40),
    regex=st.sampled_from(
        ["a+b", "^a", "b$", "a.b", "[^b]+b", r"\bab\b", "^$", "a|^b", "x*", r"\s+a", "(ab)+$"]
    ),
)
def test_the_one_scan_grep_finds_exactly_the_lines_a_line_by_line_search_finds(
    text: str, regex: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "f.txt").write_bytes(text.encode())
        found = search.grep_files(Workspace.open(tmp), regex, limit=5000).matches
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    expected = [
        (i, line.removesuffix("\r"))
        for i, line in enumerate(lines, start=1)
        if re.search(regex, line.removesuffix("\r"))
    ]
    assert [(m.line, m.text) for m in found] == expected
