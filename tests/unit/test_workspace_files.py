"""read / write / edit: paging, caps, binary and huge files, atomic writes, exact edits."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from datamigration.errors import (
    ConfirmationRequiredError,
    ConflictError,
    NotFoundError,
    UserInputError,
)
from datamigration.workspace import files
from datamigration.workspace.root import Workspace


@pytest.fixture
def ws(workspace_dir: Path) -> Workspace:
    return Workspace.open(workspace_dir)


def test_read_returns_the_whole_small_file(ws: Workspace) -> None:
    (ws.root / "a.sql").write_text("one\ntwo\nthree\n")
    r = files.read_file(ws, "a.sql")
    assert (r.content, r.start_line, r.end_line, r.total_lines, r.truncated) == (
        "one\ntwo\nthree\n",
        1,
        3,
        3,
        False,
    )


def test_read_pages_by_offset_and_limit_and_says_truncated(ws: Workspace) -> None:
    (ws.root / "a.txt").write_text("".join(f"line {i}\n" for i in range(1, 11)))
    r = files.read_file(ws, "a.txt", offset=3, limit=4)
    assert r.content == "line 3\nline 4\nline 5\nline 6\n"
    assert (r.end_line, r.total_lines, r.truncated) == (6, 10, True)
    last = files.read_file(ws, "a.txt", offset=r.end_line + 1)
    assert last.content.startswith("line 7") and not last.truncated


def test_read_caps_characters_and_says_truncated(ws: Workspace) -> None:
    line = "x" * 1000 + "\n"
    (ws.root / "big.txt").write_text(line * 300)  # 300k characters, well over the cap
    r = files.read_file(ws, "big.txt")
    assert r.truncated
    assert len(r.content) <= files.MAX_READ_CHARS
    assert r.end_line < 300


def test_read_cuts_a_single_enormous_line(ws: Workspace) -> None:
    (ws.root / "min.js").write_text("a" * 50_000)
    r = files.read_file(ws, "min.js")
    assert len(r.content) < files.MAX_LINE_CHARS + 50
    assert "[line cut]" in r.content


def test_read_refuses_a_binary_file_with_a_hint(ws: Workspace) -> None:
    (ws.root / "dump.bin").write_bytes(b"PGDMP\x00\x01\x02" * 10)
    with pytest.raises(files.BinaryFileError) as err:
        files.read_file(ws, "dump.bin")
    assert "binary" in str(err.value) and err.value.hint


def test_read_refuses_a_huge_file_with_a_hint(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "MAX_FILE_BYTES", 1000)
    (ws.root / "huge.sql").write_text("x" * 2000)
    with pytest.raises(files.FileTooLargeError) as err:
        files.read_file(ws, "huge.sql")
    assert "grep" in err.value.hint


def test_read_of_a_missing_file_is_not_found(ws: Workspace) -> None:
    with pytest.raises(NotFoundError):
        files.read_file(ws, "nope.sql")


def test_read_of_a_directory_is_refused(ws: Workspace) -> None:
    (ws.root / "d").mkdir()
    with pytest.raises(UserInputError, match="directory"):
        files.read_file(ws, "d")


def test_read_refuses_an_offset_past_the_end(ws: Workspace) -> None:
    (ws.root / "a.txt").write_text("one\n")
    with pytest.raises(UserInputError, match="past the end"):
        files.read_file(ws, "a.txt", offset=5)


def test_read_of_an_empty_file_is_empty(ws: Workspace) -> None:
    (ws.root / "e.txt").write_text("")
    r = files.read_file(ws, "e.txt")
    assert (r.content, r.total_lines, r.truncated) == ("", 0, False)


def test_read_follows_a_symlink_that_stays_inside(ws: Workspace) -> None:
    (ws.root / "real.txt").write_text("real\n")
    os.symlink(ws.root / "real.txt", ws.root / "alias.txt")
    assert files.read_file(ws, "alias.txt").content == "real\n"


def test_write_creates_parents_and_reports_created(ws: Workspace) -> None:
    r = files.write_file(ws, "migrations/versions/001_init.py", "x = 1\n")
    assert r.created and r.bytes_written == 6
    assert r.path == "migrations/versions/001_init.py"
    assert (ws.root / r.path).read_text() == "x = 1\n"


def test_write_overwrites_and_keeps_the_file_mode(ws: Workspace) -> None:
    target = ws.root / "run.sh"
    target.write_text("old\n")
    target.chmod(0o750)
    r = files.write_file(ws, "run.sh", "new\n")
    assert not r.created
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o750


def test_write_leaves_no_temporary_files_behind(ws: Workspace) -> None:
    files.write_file(ws, "a.txt", "1")
    files.write_file(ws, "a.txt", "2")
    assert sorted(p.name for p in ws.root.iterdir()) == ["a.txt"]


def test_write_is_atomic_a_failed_write_keeps_the_old_content(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ws.root / "a.txt").write_text("old\n")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        files.write_file(ws, "a.txt", "new\n")
    assert (ws.root / "a.txt").read_text() == "old\n"
    assert sorted(p.name for p in ws.root.iterdir()) == ["a.txt"]


def test_write_through_an_inside_symlink_replaces_the_target_and_keeps_the_link(
    ws: Workspace,
) -> None:
    (ws.root / "real.txt").write_text("old\n")
    os.symlink(ws.root / "real.txt", ws.root / "alias.txt")
    files.write_file(ws, "alias.txt", "new\n")
    assert (ws.root / "alias.txt").is_symlink()
    assert (ws.root / "real.txt").read_text() == "new\n"


def test_write_to_a_directory_is_refused(ws: Workspace) -> None:
    (ws.root / "d").mkdir()
    with pytest.raises(ConflictError):
        files.write_file(ws, "d", "x")


def test_writing_the_policy_file_needs_confirmation(ws: Workspace) -> None:
    with pytest.raises(ConfirmationRequiredError):
        files.write_file(ws, "datamigration.toml", '[run]\nallow = ["rm"]\n')
    assert not (ws.root / "datamigration.toml").exists()
    files.write_file(ws, "datamigration.toml", "[run]\n", confirmed=True)
    assert (ws.root / "datamigration.toml").read_text() == "[run]\n"


def test_edit_replaces_a_unique_match(ws: Workspace) -> None:
    (ws.root / "m.sql").write_text("ALTER TABLE users ADD COLUMN age int;\n")
    r = files.edit_file(ws, "m.sql", "age int", "age integer")
    assert r.replacements == 1
    assert (ws.root / "m.sql").read_text() == "ALTER TABLE users ADD COLUMN age integer;\n"


def test_edit_refuses_an_ambiguous_match_and_names_the_lines(ws: Workspace) -> None:
    text = "SELECT 1;\nSELECT 2;\nSELECT 1;\n"
    (ws.root / "m.sql").write_text(text)
    with pytest.raises(ConflictError) as err:
        files.edit_file(ws, "m.sql", "SELECT 1", "SELECT 3")
    assert err.value.data["occurrences"] == 2
    assert err.value.data["lines"] == [1, 3]
    assert "unique" in err.value.hint
    assert (ws.root / "m.sql").read_text() == text


def test_edit_replaces_all_when_asked(ws: Workspace) -> None:
    (ws.root / "m.sql").write_text("a b a\n")
    r = files.edit_file(ws, "m.sql", "a", "c", replace_all=True)
    assert r.replacements == 2
    assert (ws.root / "m.sql").read_text() == "c b c\n"


def test_edit_of_missing_text_is_not_found_and_changes_nothing(ws: Workspace) -> None:
    (ws.root / "m.sql").write_text("abc\n")
    with pytest.raises(NotFoundError):
        files.edit_file(ws, "m.sql", "xyz", "q")
    assert (ws.root / "m.sql").read_text() == "abc\n"


def test_edit_refuses_empty_or_identical_text(ws: Workspace) -> None:
    (ws.root / "m.sql").write_text("abc\n")
    with pytest.raises(UserInputError):
        files.edit_file(ws, "m.sql", "", "x")
    with pytest.raises(UserInputError):
        files.edit_file(ws, "m.sql", "abc", "abc")


def test_edit_keeps_windows_line_endings(ws: Workspace) -> None:
    (ws.root / "m.sql").write_bytes(b"a\r\nb\r\n")
    files.edit_file(ws, "m.sql", "b", "c")
    assert (ws.root / "m.sql").read_bytes() == b"a\r\nc\r\n"


def test_edit_refuses_binary_and_non_utf8_files(ws: Workspace) -> None:
    (ws.root / "b.bin").write_bytes(b"a\x00b")
    (ws.root / "l1.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(files.BinaryFileError):
        files.edit_file(ws, "b.bin", "a", "b")
    with pytest.raises(UserInputError, match="UTF-8"):
        files.edit_file(ws, "l1.txt", "caf", "CAF")
