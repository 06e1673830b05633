"""The flag file engine and its CLI: flagd format on disk, ladder, gates, rollback, locking.

No database here: gates that need one are in tests/integration/test_flags_gates.py.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from datamigration.cli import main
from datamigration.errors import ConflictError, FileFormatError, NotFoundError, UserInputError
from datamigration.safety import flags
from datamigration.safety.flag_eval import resolve_flag
from datamigration.workspace.root import Workspace

FLAG = "new-email-column"


@pytest.fixture
def ws(workspace_dir: Path) -> Workspace:
    return Workspace.open(workspace_dir)


def on_disk(ws: Workspace) -> dict:
    return json.loads((ws.root / flags.DEFAULT_PATH).read_text())


def test_a_new_flag_is_written_in_flagd_format_serving_the_old_variant(ws):
    out = flags.set_flag(ws, FLAG)
    assert out["created"] and out["path"] == "flags/flags.flagd.json"
    doc = on_disk(ws)
    assert doc["$schema"] == "https://flagd.dev/schema/v0/flags.json"
    flag = doc["flags"][FLAG]
    assert flag["state"] == "ENABLED"
    assert flag["variants"] == {"on": True, "off": False}
    assert flag["defaultVariant"] == "off"
    assert resolve_flag(FLAG, flag, {"targetingKey": "u1"}).value is False


def test_the_flag_file_location_comes_from_datamigration_toml(workspace_dir):
    (workspace_dir / "datamigration.toml").write_text('[flags]\npath = "ops/app.flagd.json"\n')
    ws = Workspace.open(workspace_dir)
    flags.set_flag(ws, FLAG)
    assert (workspace_dir / "ops" / "app.flagd.json").is_file()
    assert not (workspace_dir / "flags").exists()


def test_a_configured_path_outside_the_workspace_is_refused(workspace_dir):
    (workspace_dir / "datamigration.toml").write_text('[flags]\npath = "../elsewhere.json"\n')
    with pytest.raises(UserInputError):
        flags.set_flag(Workspace.open(workspace_dir), FLAG)


def test_rollout_walks_the_ladder_and_writes_a_fractional_rule(ws):
    flags.set_flag(ws, FLAG)
    out = flags.rollout(ws, FLAG, 1)
    assert (out["from_percent"], out["to_percent"], out["gated"]) == (0, 1, False)
    assert 0.005 <= out["measured_share"] <= 0.015
    flag = on_disk(ws)["flags"][FLAG]
    assert flag["targeting"] == {"fractional": [["on", 1], ["off", 99]]}
    assert flag["defaultVariant"] == "off"
    assert flag["metadata"]["rolloutPercent"] == 1
    out = flags.rollout(ws, FLAG, 10, ungated=True)
    assert 0.08 <= out["measured_share"] <= 0.12
    out = flags.rollout(ws, FLAG, 100, ungated=True)
    assert out["measured_share"] == 1.0
    assert flags.get_flag(ws, FLAG)["percent"] == 100


def test_jumping_past_the_next_step_is_refused_unless_asked_for(ws):
    flags.set_flag(ws, FLAG)
    with pytest.raises(UserInputError, match="next rollout step is 1%"):
        flags.rollout(ws, FLAG, 10)
    before = on_disk(ws)
    assert "targeting" not in before["flags"][FLAG]
    assert flags.rollout(ws, FLAG, 10, allow_skip=True)["to_percent"] == 10


def test_going_up_from_a_live_step_needs_a_gate(ws):
    flags.set_flag(ws, FLAG)
    flags.rollout(ws, FLAG, 1)
    with pytest.raises(UserInputError, match="needs a gate"):
        flags.rollout(ws, FLAG, 10)
    assert flags.get_flag(ws, FLAG)["percent"] == 1


def test_stepping_down_needs_no_gate(ws):
    flags.set_flag(ws, FLAG)
    flags.rollout(ws, FLAG, 10, allow_skip=True)
    assert flags.rollout(ws, FLAG, 1)["to_percent"] == 1


@pytest.mark.parametrize("bad", [0, 101, -5])
def test_percent_outside_1_to_100_is_refused(ws, bad):
    flags.set_flag(ws, FLAG)
    with pytest.raises(UserInputError):
        flags.rollout(ws, FLAG, bad)


def test_rollback_serves_the_old_variant_to_everyone_at_once(ws):
    flags.set_flag(ws, FLAG)
    flags.rollout(ws, FLAG, 10, allow_skip=True)
    out = flags.rollback(ws, FLAG)
    assert (out["from_percent"], out["to_percent"], out["serving"]) == (10, 0, "off")
    flag = on_disk(ws)["flags"][FLAG]
    assert "targeting" not in flag and flag["defaultVariant"] == "off"
    served = {resolve_flag(FLAG, flag, {"targetingKey": f"u{i}"}).variant for i in range(2000)}
    assert served == {"off"}


def test_a_flag_with_hand_written_targeting_is_not_overwritten_by_a_rollout(ws):
    flags.set_flag(ws, FLAG)
    path = ws.root / flags.DEFAULT_PATH
    doc = json.loads(path.read_text())
    doc["flags"][FLAG]["targeting"] = {"if": [{"in": ["@corp.com", {"var": "email"}]}, "on", "off"]}
    path.write_text(json.dumps(doc))
    with pytest.raises(ConflictError, match="did not write"):
        flags.rollout(ws, FLAG, 1)
    assert flags.get_flag(ws, FLAG)["percent"] is None
    flags.rollback(ws, FLAG)  # the kill switch still works
    assert flags.get_flag(ws, FLAG)["percent"] == 0


def test_a_malformed_flag_file_is_refused_and_left_untouched(ws):
    path = ws.root / flags.DEFAULT_PATH
    path.parent.mkdir(parents=True)
    path.write_text('{"flags": {"x": {"state": "ON", "variants": {"a": 1}}}}')
    with pytest.raises(FileFormatError, match="state"):
        flags.set_flag(ws, FLAG)
    assert "ON" in path.read_text()


def test_a_default_variant_that_is_not_a_variant_is_refused(ws):
    flags.set_flag(ws, FLAG)
    with pytest.raises(FileFormatError, match="defaultVariant"):
        flags.set_flag(ws, FLAG, default_variant="maybe")
    assert flags.get_flag(ws, FLAG)["default_variant"] == "off"


def test_an_unknown_flag_is_named_with_a_hint(ws):
    with pytest.raises(NotFoundError) as err:
        flags.rollback(ws, "nope")
    assert "flags set nope" in err.value.hint


def test_concurrent_writers_never_lose_an_update(ws):
    errors: list[BaseException] = []

    def create(i: int) -> None:
        try:
            flags.set_flag(ws, f"flag-{i}")
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(on_disk(ws)["flags"]) == sorted(f"flag-{i}" for i in range(12))
    assert not list((ws.root / "flags").glob("*.tmp"))
    assert not (ws.root / "flags" / "flags.flagd.json.lock").exists()


# --- the CLI ------------------------------------------------------------------------------


def cli(ws: Workspace, *argv: str) -> int:
    return main(["--workspace", str(ws.root), "flags", *argv])


def test_cli_rollout_needs_yes_and_rollback_does_not(ws, capsys):
    assert cli(ws, "set", FLAG) == 0
    assert cli(ws, "rollout", FLAG, "--percent", "1") == 3
    assert "--yes" in capsys.readouterr().err
    assert flags.get_flag(ws, FLAG)["percent"] == 0
    assert cli(ws, "rollout", FLAG, "--percent", "1", "--yes") == 0
    assert "0% -> 1%" in capsys.readouterr().out
    assert cli(ws, "rollback", FLAG) == 0
    assert "rolled back from 1% to 0%" in capsys.readouterr().out


def test_cli_changing_an_existing_flag_needs_yes(ws, capsys):
    assert cli(ws, "set", FLAG) == 0
    assert cli(ws, "set", FLAG, "--default-variant", "on") == 3
    assert flags.get_flag(ws, FLAG)["default_variant"] == "off"
    assert cli(ws, "set", FLAG, "--default-variant", "on", "--yes") == 0


def test_cli_list_and_eval_print_json(ws, capsys):
    cli(ws, "set", FLAG)
    cli(ws, "rollout", FLAG, "--percent", "10", "--skip-steps", "--yes")
    capsys.readouterr()
    assert cli(ws, "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["flags"][0]["percent"] == 10
    assert cli(ws, "eval", FLAG, "--key", "user-1", "--json") == 0
    assert json.loads(capsys.readouterr().out)["reason"] == "TARGETING_MATCH"


def test_a_plan_step_creates_the_flag_takes_its_percent_and_reverses_to_zero(ws):
    out = flags.apply_percent(ws, "plan-flag", 10.0, flags_file="ops/plan.flagd.json")
    assert out["to_percent"] == 10
    path = ws.root / "ops" / "plan.flagd.json"
    assert json.loads(path.read_text())["flags"]["plan-flag"]["metadata"]["rolloutPercent"] == 10
    back = flags.apply_percent(ws, "plan-flag", 0.0, flags_file="ops/plan.flagd.json")
    assert (back["to_percent"], back["serving"]) == (0, "off")
    assert not (ws.root / flags.DEFAULT_PATH).exists()
