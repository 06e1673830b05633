"""Answer types derived from the engines' result dataclasses (`datamigration.mcp.shapes`).

A tool answer that is an engine's result plus a paging field is built from the engine's
dataclass, so a field added to the engine's result reaches the tool's schema without a second
copy to update. These tests pin how a type is put together, that the SDK's validation keeps
exactly the fields it names, and that the published tools follow their engines' dataclasses.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, NotRequired

import pytest
from pydantic import TypeAdapter, ValidationError
from typing_extensions import TypedDict

from datamigration.coordination.bus import BusPage
from datamigration.coordination.status import StoryChange
from datamigration.db.base import QueryResult
from datamigration.db.summary import SchemaSummary
from datamigration.mcp.app import build_server
from datamigration.mcp.shapes import answer_type, fields_of
from datamigration.mcp.tools.validate import ValidateOutput
from datamigration.safety.flags import FlagList, RollbackReport, RolloutReport
from datamigration.validate.report import ValidationReport
from datamigration.validate.results import DiffReport, RuleResult
from datamigration.workspace import files, runner, search
from datamigration.workspace.root import Workspace


@dataclasses.dataclass(frozen=True)
class Page:
    """An engine result as the workspace engines return them."""

    items: tuple[str, ...]
    truncated: bool
    note: str | None = None


def test_an_answer_type_has_the_engine_fields_in_order_then_the_faces_own() -> None:
    answer = answer_type("PageOutput", Page, {"next": str | None})

    assert list(answer.__annotations__) == ["items", "truncated", "note", "next"]


def test_a_later_part_retypes_a_field_where_an_earlier_part_put_it() -> None:
    answer = answer_type("PageOutput", {"truncated": bool}, Page, {"items": list[int]})

    assert list(answer.__annotations__) == ["truncated", "items", "note"]
    assert answer.__annotations__["items"] == list[int]


def test_validation_keeps_only_the_named_fields_and_refuses_a_missing_one() -> None:
    adapter = TypeAdapter(answer_type("PageOutput", Page, {"next": str | None}, omit=("note",)))
    full = {**dataclasses.asdict(Page(("a",), False, "x")), "next": None, "extra": 1}

    assert adapter.dump_python(adapter.validate_python(full), mode="json") == {
        "items": ["a"],
        "truncated": False,
        "next": None,
    }
    with pytest.raises(ValidationError):
        adapter.validate_python({"items": [], "truncated": False})  # no `next`


def test_an_optional_field_may_be_left_out_of_the_answer() -> None:
    adapter = TypeAdapter(answer_type("PageOutput", Page, optional=("note",)))

    assert adapter.validate_python({"items": [], "truncated": True}) == {
        "items": (),
        "truncated": True,
    }


@pytest.mark.parametrize("option", ["omit", "optional"])
def test_refuses_to_leave_out_or_relax_a_field_the_answer_does_not_have(option: str) -> None:
    with pytest.raises(TypeError, match="no field 'nope'"):
        answer_type("PageOutput", Page, **{option: ("nope",)})


def test_an_engine_typeddict_is_a_part_too_and_keeps_its_optional_fields() -> None:
    class Report(TypedDict):
        done: bool
        lag: NotRequired[float]

    adapter = TypeAdapter(answer_type("ReportOutput", Report, {"next": str | None}))

    assert adapter.validate_python({"done": True, "next": None}) == {"done": True, "next": None}
    with pytest.raises(ValidationError):
        adapter.validate_python({"lag": 1.0, "next": None})  # no `done`


def test_refuses_a_part_that_is_neither_a_dataclass_nor_a_mapping() -> None:
    with pytest.raises(TypeError, match="not a dataclass"):
        answer_type("PageOutput", str)


#: Tools answering with an engine's result: (engine result type, fields the face adds,
#: fields the face leaves out).
DERIVED: dict[str, tuple[type, set[str], set[str]]] = {
    "read": (files.ReadResult, {"next"}, set()),
    "write": (files.WriteResult, set(), set()),
    "edit": (files.EditResult, set(), set()),
    "glob": (search.GlobResult, {"next"}, set()),
    "grep": (search.GrepResult, {"next"}, set()),
    "run": (runner.RunResult, set(), set()),
    "query": (QueryResult, {"offset", "next"}, set()),
    "status_update": (StoryChange, set(), {"fields"}),
    "bus_read": (BusPage, {"untrusted_data", "next"}, set()),
    "flags_rollout": (RolloutReport, set(), set()),
    "flags_rollback": (RollbackReport, set(), set()),
    "flags_get": (FlagList, {"truncated"}, set()),
    "inspect": (SchemaSummary, {"detail"}, set()),
    "diff_data": (
        DiffReport,
        set(),
        {"columns", "lagging_count", "segments_checked", "queries", "lag"},
    ),
    "validate": (ValidationReport, set(), {"name", "source", "target", "started_at", "seconds"}),
}


@pytest.mark.parametrize("name", sorted(DERIVED))
def test_a_tool_answering_with_an_engine_result_publishes_that_results_fields(
    name: str, workspace_dir: Path
) -> None:
    engine, added, left_out = DERIVED[name]
    server = build_server(Workspace.open(workspace_dir))
    published: Any = server._tool_manager.get_tool(name).fn_metadata.output_schema

    assert set(published["properties"]) == (set(fields_of(engine)) - left_out) | added


def test_a_validate_answer_keeps_each_rule_result_without_where_the_rule_ran() -> None:
    adapter = TypeAdapter(ValidateOutput)
    rule = RuleResult("r1", "not_null", False, 2, 0, "2 NULLs", [1, 2], "target", "t", "SELECT")
    report = {
        "name": "users",
        "passed": False,
        "summary": "users: 1 of 1 validation rules failed (r1)",
        "passed_count": 0,
        "failed_count": 1,
        "source": None,
        "target": None,
        "started_at": "2026-12-06T00:00:00Z",
        "seconds": 0.1,
        "results": [rule.to_dict()],
        "notes": [],
        "report_json": "docs/validation/users.json",
        "report_markdown": "docs/validation/users.md",
        "story": None,
        "test_status": None,
    }

    answer = adapter.dump_python(adapter.validate_python(report), mode="json")

    assert set(answer) == set(report) - {"name", "source", "target", "started_at", "seconds"}
    assert answer["results"] == [
        {k: v for k, v in rule.to_dict().items() if k not in {"side", "table", "query"}}
    ]
