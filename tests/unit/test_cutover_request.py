"""What a cutover accepts before it touches anything: run and flag names from the model are
parsed into their shape or refused, the bounds are checked, and the CLI asks for --yes with
the exact action (nothing recorded, no flag file written)."""

from __future__ import annotations

from pathlib import Path

import pytest

from datamigration.cli import main
from datamigration.errors import UserInputError
from datamigration.move.sync.cutover import CutoverRequest, cutover_action


@pytest.mark.parametrize(
    "run", ["", "Users", "mv users", "mv;drop", "x" * 36, "../etc", "mv_users\n", "é"]
)
def test_a_run_name_outside_the_sync_run_shape_is_refused(run: str) -> None:
    with pytest.raises(UserInputError, match="run name"):
        CutoverRequest(run=run, workspace=".").checked()


@pytest.mark.parametrize("flag", ["", "a b", "x" * 101, "flag;rm", "f/../g"])
def test_a_flag_name_outside_letters_digits_and_dots_is_refused(flag: str) -> None:
    with pytest.raises(UserInputError, match="flag name"):
        CutoverRequest(run="mv_users_1", workspace=".", flag=flag).checked()
    with pytest.raises(UserInputError, match="flag name"):
        CutoverRequest(run="mv_users_1", workspace=".", pause_flag=flag).checked()


@pytest.mark.parametrize(
    ("field", "value"),
    [("lag_max_s", 0), ("lag_max_s", 4000), ("pause_max_ms", 5), ("write_pause", "sleep")],
)
def test_bounds_and_pause_methods_outside_their_range_are_refused(
    field: str, value: object
) -> None:
    with pytest.raises(UserInputError):
        CutoverRequest(run="mv_users_1", workspace=".", **{field: value}).checked()  # type: ignore[arg-type]


def test_the_confirmed_action_names_the_run_the_direction_and_the_bounds() -> None:
    req = CutoverRequest(run="mv_users_1", workspace="/w", pause_max_ms=500, flag="f1").checked()
    forward, back = cutover_action(req), cutover_action(req, rollback=True)
    assert forward.kind == "cutover" and back.kind == "cutover_rollback"
    assert forward.payload["pause_max_ms"] == 500 and forward.payload["flag"] == "f1"
    assert "workspace" not in forward.payload
    assert forward.digest() != back.digest()


def test_the_cli_asks_for_yes_and_does_nothing_without_it(workspace_dir: Path, capsys) -> None:
    code = main(["--workspace", str(workspace_dir), "cutover", "mv_users_1", "--pause-max", "2s"])
    err = capsys.readouterr().err
    assert code == 3 and "confirmation needed" in err and "2000 ms" in err
    assert not (workspace_dir / ".datamigration" / "cutover").exists()
    assert not list(workspace_dir.rglob("*flags*.json"))
