"""`datamigration demo --move`: the sample users table moves to another database while the demo's
application writes, is cut over and rolled back, in under a minute, with no failed write and
every write made on the target back on the source (SQLite target offline, PostgreSQL with
--move-to)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datamigration.cli import main

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.mark.parametrize("target", ["sqlite", "postgresql"])
def test_the_move_demo_cuts_over_under_load_and_rolls_back_in_under_a_minute(
    target: str, tmp_path: Path, request, capsys
) -> None:
    args = ["demo", "--move", "--dir", str(tmp_path / "demo"), "--json"]
    if target == "postgresql":
        args += ["--move-to", request.getfixturevalue("pg_url")]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    move = report["steps"][-1]
    assert move["status"] == "done", move
    data = move["data"]
    assert data["failed"] == 0 and data["identical"] and data["replayed"] >= 1
    assert data["writes_source"] > 0 and data["writes_target"] > 0
    assert 0 < data["pause_ms"] < 5_000
    assert report["seconds"] < 60


def test_move_to_without_move_is_refused(tmp_path: Path, capsys) -> None:
    assert main(["demo", "--move-to", "postgresql://h/db", "--dir", str(tmp_path / "d")]) == 2
    assert "--move" in capsys.readouterr().err and not (tmp_path / "d").exists()
