"""`make demo` prints the same walkthrough, line for line, apart from what the clock and the load
decide: its output on SQLite is a golden file (tests/fixtures/demo/sqlite.txt).

Why: a reshape of the code must leave what a newcomer sees unchanged. Masked before comparing
are only the workspace path, durations, the plan's creation time in its id, the plan hash (it
covers that time) and the counts of the simulated application's operations (how many it gets
through depends on the machine's load). Regenerate after an intended change with
DATAMIGRATION_UPDATE_GOLDENS=1 and review the diff.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CLI = str(Path(sys.executable).parent / "datamigration")
GOLDEN = Path(__file__).parent.parent / "fixtures" / "demo" / "sqlite.txt"
MASKS = (
    (re.compile(r"\b\d+(?:\.\d+)? (ms|s)\b"), r"<time> \1"),
    (re.compile(r"\b\d{8}-\d{6}-"), "<created>-"),
    (re.compile(r"\bhash [0-9a-f]{12}\b"), "hash <hash>"),
    (re.compile(r"\b\d+ (app operations|operations|on the new code)\b"), r"<n> \1"),
)


def masked(output: str, workspace: Path) -> str:
    """The demo's output with what varies from run to run replaced by a placeholder."""
    text = output.replace(str(workspace), "<workspace>")
    for pattern, placeholder in MASKS:
        text = pattern.sub(placeholder, text)
    return text


def test_masking_hides_only_what_varies_between_runs() -> None:
    line = (
        "plan 20261206-211346-rename_users (expand_contract), hash 731a891b2e36: 5 steps; "
        "822 app operations, 0 failed, 250 on the new code, p50 43.8 ms, in 7.0 s; "
        "240 rows in /tmp/x/ws/app.db"
    )
    assert masked(line, Path("/tmp/x/ws")) == (
        "plan <created>-rename_users (expand_contract), hash <hash>: 5 steps; "
        "<n> app operations, 0 failed, <n> on the new code, p50 <time> ms, in <time> s; "
        "240 rows in <workspace>/app.db"
    )


def test_the_sqlite_demo_prints_the_reviewed_walkthrough(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    proc = subprocess.run(
        [CLI, "demo", "--dir", str(workspace)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        # as a user runs it: with the executor's backup check on (the suite turns it off)
        env={
            **{k: v for k, v in os.environ.items() if k != "DATAMIGRATION_BACKUP_REQUIRED"},
            "COLUMNS": "200",
            "NO_COLOR": "1",
        },
    )
    actual = masked(proc.stdout, workspace)
    if os.environ.get("DATAMIGRATION_UPDATE_GOLDENS") == "1" and proc.returncode == 0:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(actual, encoding="utf-8")
    expected = GOLDEN.read_text(encoding="utf-8")
    if actual != expected:
        diff = difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            fromfile="tests/fixtures/demo/sqlite.txt (reviewed)",
            tofile="datamigration demo (now)",
        )
        pytest.fail(
            f"the demo's output changed (exit {proc.returncode}; "
            "DATAMIGRATION_UPDATE_GOLDENS=1 rewrites the golden file, review the diff):\n"
            + "".join(diff)
            + proc.stderr[-2000:],
            pytrace=False,
        )
