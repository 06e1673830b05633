"""status.json: AgileFlow interop (byte-for-byte), vocabularies, transitions, the harness rule."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from datamigration.coordination import bus, jsontext, status
from datamigration.coordination.status import record_validation
from datamigration.errors import (
    ConflictError,
    FileFormatError,
    HarnessRuleError,
    NotFoundError,
    UserInputError,
)
from datamigration.workspace.root import Workspace

# Hand-formatted the way real boards are: mixed layouts, an escape, a number spelling (1.50)
# and unknown keys that json.dumps would all rewrite.
AGILEFLOW_OBJECT = """{
  "updated": "2025-05-01T10:00:00Z",
  "project": {"name": "shop", "zeta": 1, "alpha": 2},
  "stories": {
    "US-0001": {"title": "Hyphen story", "status": "in-progress", "owner": "AG-API",
                "x_custom": {"b": 1, "a": [1, 2]}},
    "US-0002": {
      "id": "US-0002",
      "status": "in_review",
      "title": "Underscore story \\u00e9",
      "test_status": "passing",
      "estimate": 1.50
    },
    "US-0003": {
      "status": "ready",
      "title": "Plain",
      "last_update": "2025-04-01T00:00:00Z"
    }
  },
  "epics": {"EP-0001": {"title": "E", "status": "in_progress"}},
  "zz_unknown": [1, 2, 3]
}
"""

AGILEFLOW_ARRAY = (
    '{"updated":"2025-01-01T00:00:00.000Z","stories":[{"id":"US-0010","status":"ready",'
    '"title":"A"},{"id":"US-0011","status":"in_progress","title":"B","extra":{"k":null}},'
    '{"id":"US-0012","status":"done","title":"C"}],"meta":true}'
)


def agileflow_workspace(root: Path, text: str) -> tuple[Workspace, Path]:
    path = root / "docs" / "09-agents" / "status.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(text.encode("utf-8"))
    return Workspace.open(root), path


def masked(text: str, story_path: list[str | int]) -> str:
    """The text with the story's value and the top-level `updated` value cut out."""
    spans = []
    for json_path in (["updated"], story_path):
        start = jsontext.locate(text, json_path)
        assert start is not None
        spans.append((start, jsontext.value_end(text, start)))
    out = text
    for start, end in sorted(spans, reverse=True):
        out = out[:start] + "<CUT>" + out[end:]
    return out


def test_an_update_keeps_every_byte_outside_the_changed_story_in_an_object_board(
    workspace_dir: Path,
) -> None:
    ws, path = agileflow_workspace(workspace_dir, AGILEFLOW_OBJECT)
    status.update_story(ws, "US-0003", status="in-progress", fields={"owner": "AG-DATAMIGRATION"})
    after = path.read_text(encoding="utf-8")
    assert masked(after, ["stories", "US-0003"]) == masked(AGILEFLOW_OBJECT, ["stories", "US-0003"])
    data = json.loads(after)
    story = data["stories"]["US-0003"]
    assert list(story)[:3] == ["status", "title", "last_update"]  # order kept, no `updated` added
    assert story["status"] == "in-progress"  # tie between vocabularies: hyphens
    assert story["owner"] == "AG-DATAMIGRATION"
    assert story["last_update"] != "2025-04-01T00:00:00Z"
    assert data["updated"] != "2025-05-01T10:00:00Z"
    assert after.endswith("}\n")
    assert '"title": "Underscore story \\u00e9"' in after and '"estimate": 1.50' in after


def test_each_story_keeps_its_own_vocabulary(workspace_dir: Path) -> None:
    ws, path = agileflow_workspace(workspace_dir, AGILEFLOW_OBJECT)
    status.update_story(ws, "US-0002", status="done")
    status.update_story(ws, "US-0001", status="blocked")
    data = json.loads(path.read_text())
    assert data["stories"]["US-0002"]["status"] == "completed"  # asked "done", file said in_review
    assert "completed_at" in data["stories"]["US-0002"]
    # "blocked" is spelled the same in both; from there the file's majority (underscores) decides.
    status.update_story(ws, "US-0001", status="in-progress")
    assert json.loads(path.read_text())["stories"]["US-0001"]["status"] == "in_progress"
    # The first change kept the unchanged story's multi-line layout exactly.
    assert '"x_custom": {"b": 1, "a": [1, 2]}' in path.read_text()


def test_an_update_keeps_every_byte_outside_the_changed_story_in_an_array_board(
    workspace_dir: Path,
) -> None:
    ws, path = agileflow_workspace(workspace_dir, AGILEFLOW_ARRAY)
    status.update_story(ws, "US-0011", status="blocked", fields={"blocked_by": ["US-0010"]})
    after = path.read_text()
    assert masked(after, ["stories", 1]) == masked(AGILEFLOW_ARRAY, ["stories", 1])
    assert "\n" not in after  # a single-line file stays single-line
    story = json.loads(after)["stories"][1]
    assert story["status"] == "blocked" and story["blocked_by"] == ["US-0010"]
    assert story["extra"] == {"k": None}


def test_a_new_story_is_appended_in_the_board_shape_and_spelling(workspace_dir: Path) -> None:
    ws, path = agileflow_workspace(workspace_dir, AGILEFLOW_ARRAY)
    change = status.new_story(ws, "US-0013", "New one", status="in_progress")
    assert change.created
    stories = json.loads(path.read_text())["stories"]
    assert stories[-1]["id"] == "US-0013"
    assert stories[-1]["status"] == "in-progress"  # file majority is hyphen (done + in_progress)
    old_tail = AGILEFLOW_ARRAY.split('"stories":', 1)[1]
    new_tail = path.read_text().split('"stories":', 1)[1]
    assert new_tail.startswith(old_tail[: -len('],"meta":true}')] + ',{"id":"US-0013",')
    assert new_tail.endswith('],"meta":true}')


def test_crlf_and_tab_indented_files_stay_that_way(workspace_dir: Path) -> None:
    text = '{\r\n\t"updated": "x",\r\n\t"stories": {\r\n\t\t"US-1": {\r\n\t\t\t"status": "ready"\r\n\t\t}\r\n\t}\r\n}\r\n'
    ws, path = agileflow_workspace(workspace_dir, text)
    status.update_story(ws, "US-1", status="in-progress", fields={"tags": ["a"]})
    after = path.read_bytes().decode()
    assert "\n" not in after.replace("\r\n", "")
    assert '\r\n\t\t\t"tags": [\r\n\t\t\t\t"a"\r\n\t\t\t]' in after


def test_a_new_workspace_gets_a_root_status_file_in_hyphen_vocabulary(workspace_dir: Path) -> None:
    ws = Workspace.open(workspace_dir)
    status.new_story(ws, "US-0001", "First")
    status.update_story(ws, "US-0001", status="in_progress")
    data = json.loads((workspace_dir / "status.json").read_text())
    assert set(data) == {"updated", "stories"}
    assert data["stories"]["US-0001"]["status"] == "in-progress"
    assert (workspace_dir / "status.json").read_text().endswith("\n")
    types = [m.type for m in bus.read(ws).messages]
    assert types == ["story-created", "status"]


def test_illegal_transitions_are_refused_with_the_allowed_ones(workspace_dir: Path) -> None:
    ws, path = agileflow_workspace(workspace_dir, AGILEFLOW_OBJECT)
    before = path.read_bytes()
    with pytest.raises(ConflictError) as caught:
        status.update_story(ws, "US-0003", status="done")
    assert "in-progress" in caught.value.hint
    with pytest.raises(UserInputError):
        status.update_story(ws, "US-0003", status="finished")
    with pytest.raises(NotFoundError):
        status.update_story(ws, "US-9999", status="blocked")
    assert path.read_bytes() == before


def test_validation_fields_and_the_id_cannot_be_set_directly(workspace_dir: Path) -> None:
    ws, _ = agileflow_workspace(workspace_dir, AGILEFLOW_OBJECT)
    for field in ("test_status", "test_results", "id", "status"):
        with pytest.raises(UserInputError):
            status.update_story(ws, "US-0003", fields={field: "passing"})
    with pytest.raises(UserInputError):
        status.update_story(ws, "US-0003", fields={"tags": "not-a-list"})


def test_an_existing_story_id_is_not_created_twice(workspace_dir: Path) -> None:
    ws, _ = agileflow_workspace(workspace_dir, AGILEFLOW_OBJECT)
    with pytest.raises(ConflictError):
        status.new_story(ws, "US-0001", "again")
    with pytest.raises(UserInputError):
        status.new_story(ws, "not an id", "x")


# -- the harness rule ---------------------------------------------------------------------------


def started(workspace_dir: Path) -> Workspace:
    ws = Workspace.open(workspace_dir)
    status.new_story(ws, "US-0042", "Migrate user_profiles")
    status.update_story(ws, "US-0042", status="in-progress")
    return ws


def test_review_is_refused_while_test_status_is_not_passing(workspace_dir: Path) -> None:
    ws = started(workspace_dir)
    with pytest.raises(HarnessRuleError):
        status.update_story(ws, "US-0042", status="in-review")
    record_validation(ws, "US-0042", False, "3 rows differ")
    with pytest.raises(HarnessRuleError) as caught:
        status.update_story(ws, "US-0042", status="in-review")
    assert "failing" in str(caught.value)
    assert status.get_story(ws, "US-0042")["status"] == "in-progress"


def test_review_is_allowed_once_the_recorded_validation_passes(workspace_dir: Path) -> None:
    ws = started(workspace_dir)
    (workspace_dir / "reports").mkdir()
    (workspace_dir / "reports" / "v1.json").write_text("{}")
    record_validation(
        ws, "US-0042", True, "100% record match", str(workspace_dir / "reports/v1.json")
    )
    story = status.get_story(ws, "US-0042")
    assert story["test_status"] == "passing"
    assert story["test_results"]["report"] == "reports/v1.json"
    assert story["test_results"]["exit_code"] == 0
    change = status.update_story(ws, "US-0042", status="in-review")
    assert change.status == "in-review" and change.override_reason is None
    posted = [m for m in bus.read(ws, type="status").messages if "validation" in (m.text or "")]
    assert posted[-1].story == "US-0042"
    assert posted[-1].text == "Data validation complete for US-0042: passed. 100% record match"


def test_an_override_needs_a_reason_and_is_posted_as_a_warning(workspace_dir: Path) -> None:
    ws = started(workspace_dir)
    with pytest.raises(UserInputError):
        status.update_story(ws, "US-0042", status="in-review", override_reason="   ")
    assert status.get_story(ws, "US-0042")["status"] == "in-progress"
    change = status.update_story(
        ws, "US-0042", status="in-review", override_reason="validator down; checked by hand"
    )
    assert change.override_reason == "validator down; checked by hand"
    warnings = bus.read(ws, type="warning").messages
    assert len(warnings) == 1 and "checked by hand" in (warnings[0].text or "")
    assert bus.read(ws).messages[-1].type == "status"


def test_record_validation_refuses_a_report_outside_the_workspace(workspace_dir: Path) -> None:
    ws = started(workspace_dir)
    with pytest.raises(UserInputError):
        record_validation(ws, "US-0042", True, "ok", "/etc/passwd")


# -- bad input ----------------------------------------------------------------------------------


def test_malformed_json_names_file_and_line_and_leaves_the_file_alone(workspace_dir: Path) -> None:
    broken = '{\n  "updated": "x",\n  "stories": {\n    "US-1": {"status": "ready",}\n  }\n}\n'
    ws, path = agileflow_workspace(workspace_dir, broken)
    stat = os.stat(path)
    with pytest.raises(FileFormatError) as caught:
        status.update_story(ws, "US-1", status="in-progress")
    err = caught.value
    assert err.data["line"] == 4 and err.data["path"] == str(path)
    assert "status.json:4" in str(err) and err.data["problem"]
    assert path.read_text() == broken and os.stat(path).st_mtime_ns == stat.st_mtime_ns
    assert not path.with_name("status.json.lock").exists()


def test_a_schema_violation_names_the_line_of_the_bad_story(workspace_dir: Path) -> None:
    bad = '{\n  "stories": {\n    "US-1": {"status": "ready"},\n    "US-2": {\n      "status": 7\n    }\n  }\n}\n'
    ws, path = agileflow_workspace(workspace_dir, bad)
    with pytest.raises(FileFormatError) as caught:
        status.update_story(ws, "US-1", status="in-progress")
    assert caught.value.data["line"] == 5
    assert "US-2" in caught.value.data["problem"]
    assert path.read_text() == bad


@pytest.mark.parametrize("recorded", ["wip", "WIP-ish", "reviewing", "Done!"])
@pytest.mark.parametrize("target", ["done", "completed", "in-review", "in_progress", "blocked"])
def test_a_story_with_an_unknown_recorded_status_is_not_moved(
    workspace_dir: Path, recorded: str, target: str
) -> None:
    board = {"stories": {"US-0009": {"title": "t", "status": recorded}}}
    (workspace_dir / "status.json").write_text(json.dumps(board))
    before = (workspace_dir / "status.json").read_bytes()
    ws = Workspace.open(workspace_dir)
    with pytest.raises(ConflictError) as caught:
        status.update_story(ws, "US-0009", status=target)
    assert f"unknown status {recorded!r}" in caught.value.message
    # Both AgileFlow vocabularies are offered, and the way out.
    assert "in-progress" in caught.value.hint and "in_progress" in caught.value.hint
    assert (
        "completed" in caught.value.hint and "move it to ready first" in caught.value.hint.lower()
    )
    assert (workspace_dir / "status.json").read_bytes() == before
    assert bus.read(ws).messages == ()


def test_a_story_with_an_unknown_status_may_go_back_to_ready_and_then_on_as_usual(
    workspace_dir: Path,
) -> None:
    board = {"stories": {"US-0009": {"title": "t", "status": "wip"}}}
    (workspace_dir / "status.json").write_text(json.dumps(board))
    ws = Workspace.open(workspace_dir)
    assert status.update_story(ws, "US-0009", status="ready").status == "ready"
    assert status.update_story(ws, "US-0009", status="in-progress").status == "in-progress"


def test_a_story_without_a_status_counts_as_ready(workspace_dir: Path) -> None:
    (workspace_dir / "status.json").write_text('{"stories": {"US-0009": {"title": "t"}}}')
    ws = Workspace.open(workspace_dir)
    with pytest.raises(ConflictError):
        status.update_story(ws, "US-0009", status="done")
    assert status.update_story(ws, "US-0009", status="in-progress").status == "in-progress"


@pytest.mark.parametrize("asked", ["wip", "finished", "in-reveiw", "DONE?"])
def test_an_unknown_requested_status_lists_both_vocabularies(
    workspace_dir: Path, asked: str
) -> None:
    ws = started(workspace_dir)
    with pytest.raises(UserInputError) as caught:
        status.update_story(ws, "US-0042", status=asked)
    assert "in-review" in caught.value.hint and "in_review" in caught.value.hint
    assert "archived" in caught.value.hint
