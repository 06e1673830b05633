"""glob and grep: pattern semantics, skipped folders, caps, binary files."""

from __future__ import annotations

from pathlib import Path

import pytest

from datamigration.errors import UserInputError
from datamigration.workspace import search
from datamigration.workspace.root import Workspace


@pytest.fixture
def ws(workspace_dir: Path) -> Workspace:
    tree = {
        "alembic/versions/a1_init.py": "revision = 'a1'\n",
        "alembic/versions/b2_users.py": "op.add_column('users', sa.Column('age'))\n",
        "db/001_init.sql": "CREATE TABLE users (id int);\n",
        "db/002_orders.sql": "create table orders (id int);\n",
        "src/app.py": "print('CREATE TABLE is a string here')\n",
        "README.md": "docs\n",
        ".git/config": "CREATE TABLE in git internals\n",
        ".venv/lib/x.sql": "CREATE TABLE in a virtualenv\n",
        "node_modules/pkg/y.sql": "CREATE TABLE in node_modules\n",
    }
    for rel, text in tree.items():
        p = workspace_dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return Workspace.open(workspace_dir)


def test_glob_star_stays_in_one_directory(ws: Workspace) -> None:
    assert search.glob_files(ws, "*.md").files == ["README.md"]
    assert search.glob_files(ws, "db/*.sql").files == ["db/001_init.sql", "db/002_orders.sql"]


def test_glob_double_star_spans_directories_and_skips_vcs_and_venvs(ws: Workspace) -> None:
    assert search.glob_files(ws, "**/*.sql").files == ["db/001_init.sql", "db/002_orders.sql"]


def test_glob_supports_braces_and_classes(ws: Workspace) -> None:
    assert search.glob_files(ws, "{db,src}/*.{sql,py}").files == [
        "db/001_init.sql",
        "db/002_orders.sql",
        "src/app.py",
    ]
    assert search.glob_files(ws, "db/00[2-9]_*.sql").files == ["db/002_orders.sql"]


def test_glob_with_a_base_returns_root_relative_paths(ws: Workspace) -> None:
    assert search.glob_files(ws, "*.py", base="alembic/versions").files == [
        "alembic/versions/a1_init.py",
        "alembic/versions/b2_users.py",
    ]


def test_glob_accepts_an_absolute_pattern_inside_the_root(ws: Workspace) -> None:
    assert search.glob_files(ws, f"{ws.root}/db/*.sql").files == [
        "db/001_init.sql",
        "db/002_orders.sql",
    ]


def test_glob_caps_results_and_says_truncated(ws: Workspace) -> None:
    r = search.glob_files(ws, "**", limit=2)
    assert len(r.files) == 2 and r.truncated


def test_glob_reaches_into_a_skipped_folder_only_when_asked_for_it(ws: Workspace) -> None:
    assert search.glob_files(ws, "*.sql", base=".venv/lib").files == [".venv/lib/x.sql"]


def test_glob_refuses_an_empty_pattern(ws: Workspace) -> None:
    with pytest.raises(UserInputError):
        search.glob_files(ws, " ")


def test_grep_finds_lines_with_numbers_and_skips_git_and_venvs(ws: Workspace) -> None:
    r = search.grep_files(ws, "CREATE TABLE")
    assert [(m.path, m.line) for m in r.matches] == [("db/001_init.sql", 1), ("src/app.py", 1)]
    assert not r.truncated


def test_grep_ignore_case_and_glob_filter(ws: Workspace) -> None:
    r = search.grep_files(ws, "create table", ignore_case=True, glob="*.sql")
    assert r.files_matched == ["db/001_init.sql", "db/002_orders.sql"]
    r = search.grep_files(ws, "create table", ignore_case=True, glob="db/002*")
    assert r.files_matched == ["db/002_orders.sql"]


def test_grep_files_only_lists_each_file_once(ws: Workspace) -> None:
    (ws.root / "db" / "003_many.sql").write_text("alter\nalter\nalter\n")
    r = search.grep_files(ws, "alter", files_only=True)
    assert r.files_matched == ["db/003_many.sql"] and r.matches == []


def test_grep_caps_matches_and_says_truncated(ws: Workspace) -> None:
    (ws.root / "many.txt").write_text("hit\n" * 50)
    r = search.grep_files(ws, "hit", limit=10)
    assert len(r.matches) == 10 and r.truncated


def test_grep_skips_binary_files_and_counts_them(ws: Workspace) -> None:
    (ws.root / "blob.bin").write_bytes(b"CREATE TABLE\x00\x00")
    r = search.grep_files(ws, "CREATE TABLE")
    assert "blob.bin" not in r.files_matched
    assert r.skipped == 1


def test_grep_in_a_single_file(ws: Workspace) -> None:
    r = search.grep_files(ws, "orders", path="db/002_orders.sql")
    assert [m.path for m in r.matches] == ["db/002_orders.sql"]


def test_grep_cuts_very_long_matching_lines(ws: Workspace) -> None:
    (ws.root / "long.txt").write_text("needle" + "x" * 5000 + "\n")
    r = search.grep_files(ws, "needle")
    assert len(r.matches[0].text) < search.MAX_MATCH_CHARS + 20


def test_grep_reports_an_invalid_regex_with_a_hint(ws: Workspace) -> None:
    with pytest.raises(UserInputError) as err:
        search.grep_files(ws, "(unclosed")
    assert "escape" in err.value.hint


def test_brace_expansion_handles_nesting_and_literal_braces() -> None:
    assert search.expand_braces("a{b,c{d,e}}f") == ["abf", "acdf", "acef"]
    assert search.expand_braces("a{b}c") == ["a{b}c"]


@pytest.mark.parametrize(
    "regex",
    [r"^alter", r"int;$", r"^$", r"\bid\b", r"(?s)fo.$", r"(?i)^ALTER", r"\Aalter", r"d\z", "."],
)
def test_grep_finds_exactly_the_lines_a_line_by_line_search_finds(
    workspace_dir: Path, regex: str
) -> None:
    import re

    text = "alter table t add id int;\n\nfoo\r\nselect id from t\nend\n"
    (workspace_dir / "m.sql").write_text(text, newline="")
    expected = [
        i
        for i, line in enumerate(text.split("\n")[:-1], start=1)
        if re.search(regex.replace("\\z", "\\Z"), line.removesuffix("\r"))  # RE2 spells it \z
    ]
    found = search.grep_files(Workspace.open(workspace_dir), regex, limit=100).matches
    assert [m.line for m in found] == expected
    assert expected  # every case exercises at least one hit
