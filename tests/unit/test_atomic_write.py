"""The one atomic-write helper (datamigration/atomic.py) and the semantics each caller keeps:
the plan store, the coordination and flag files, and the workspace's write tool."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from datamigration import atomic
from datamigration.atomic import atomic_write
from datamigration.coordination.paths import coordination_paths
from datamigration.coordination.status import new_story
from datamigration.errors import PathOutsideWorkspaceError
from datamigration.workspace import files
from datamigration.workspace.root import Workspace


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def test_writes_text_as_utf8_and_bytes_as_given_with_no_temporary_file_left(tmp_path: Path) -> None:
    atomic_write(tmp_path / "a.txt", "héllo\n")
    atomic_write(tmp_path / "b.bin", b"\x00\xff")
    assert (tmp_path / "a.txt").read_bytes() == "héllo\n".encode()
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\xff"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin"]


def test_creates_missing_parents_unless_told_not_to(tmp_path: Path) -> None:
    atomic_write(tmp_path / "x" / "y" / "a.txt", "1")
    assert (tmp_path / "x" / "y" / "a.txt").read_text() == "1"
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "missing" / "a.txt", "1", parents=False)
    assert not (tmp_path / "missing").exists()


def test_an_existing_file_keeps_its_exact_permission_bits(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    target.chmod(0o666)  # wider than the umask would let a new file be
    atomic_write(target, "new", new_mode=0o600)
    assert (target.read_text(), mode(target)) == ("new", 0o666)


@pytest.mark.parametrize("new_mode", [0o644, 0o600, 0o666])
def test_a_new_file_gets_the_callers_mode_less_the_umask(tmp_path: Path, new_mode: int) -> None:
    atomic_write(tmp_path / "a.txt", "1", new_mode=new_mode)
    assert mode(tmp_path / "a.txt") == new_mode & ~umask()


def test_a_name_of_255_bytes_gets_a_temporary_name_that_fits_name_max(tmp_path: Path) -> None:
    seen: list[str] = []
    target = tmp_path / ("é" * 127 + "b")  # 255 bytes in UTF-8
    atomic_write(target, "ok", before_replace=lambda: seen.extend(os.listdir(tmp_path)))
    assert target.read_text() == "ok"
    (tmp_name,) = seen
    assert tmp_name.endswith(".tmp") and len(os.fsencode(tmp_name)) <= 255
    assert os.fsencode(tmp_name)[1:201].startswith(os.fsencode(target.name)[:198])


def test_a_failing_check_before_the_rename_keeps_the_old_file_and_removes_the_temporary(
    tmp_path: Path,
) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")

    def refuse() -> None:
        raise PathOutsideWorkspaceError("moved")

    with pytest.raises(PathOutsideWorkspaceError):
        atomic_write(target, "new", before_replace=refuse)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_a_failed_rename_keeps_the_old_file_and_removes_the_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")

    def disk_full(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", disk_full)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, "new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_concurrent_writers_of_one_file_in_one_process_never_share_a_temporary_file(
    tmp_path: Path,
) -> None:
    target = tmp_path / "a.txt"
    texts = [f"writer {i}\n" * 200 for i in range(4)]
    errors: list[BaseException] = []

    def write(text: str) -> None:
        try:
            for _ in range(10):
                atomic_write(target, text)
        except OSError as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert target.read_text() in texts
    assert os.listdir(tmp_path) == ["a.txt"]


# --- each caller keeps its semantics ----------------------------------------------------------


def test_the_workspace_write_tool_creates_private_files_and_keeps_an_existing_mode(
    tmp_path: Path,
) -> None:
    ws = Workspace(tmp_path)
    files.write_file(ws, "new.txt", "1")
    assert mode(tmp_path / "new.txt") == 0o600
    (tmp_path / "old.txt").write_text("0")
    (tmp_path / "old.txt").chmod(0o640)
    files.write_file(ws, "old.txt", "1")
    assert mode(tmp_path / "old.txt") == 0o640


def test_the_workspace_write_tool_never_creates_parents_through_the_helper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict] = []
    real = files.atomic_write

    def spy(path: Path, data: bytes | str, **kw: object) -> None:
        calls.append(kw)
        real(path, data, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(files, "atomic_write", spy)
    files.write_file(Workspace(tmp_path), "d/e/a.txt", "1")
    assert calls and calls[0]["parents"] is False and callable(calls[0]["before_replace"])


def test_coordination_files_are_written_whole_with_no_temporary_left(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    new_story(ws, "US-0001", "First")
    status = coordination_paths(ws).status
    assert status.is_file() and mode(status) == 0o644 & ~umask()
    assert not list(status.parent.glob("*.tmp"))
