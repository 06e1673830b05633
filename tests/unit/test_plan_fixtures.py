"""Golden plan fixtures: every change kind on every dialect, planned without a database and
compared byte for byte with a reviewed file (the way sqlglot keeps tests/fixtures).

Why files and not asserts: a reshape of the planner must leave every generated statement
identical, and a file per kind × dialect shows the whole plan (statements, rollbacks, rules,
warnings, refusals) where inline `in`/`startswith` asserts checked fragments. Each file in
tests/fixtures/plans/<dialect>/<kind>.sql holds one or more cases; a case's input is its header
(`-- case:`, `-- spec:` and optionally `-- server_version:`), planned against
tests/fixtures/plans/schemas/<dialect>.json (schema model, measured sizes, database name).
Everything after the header is the planner's output.

Regenerate after an intended change with DATAMIGRATION_UPDATE_GOLDENS=1 and review the diff:
the fixtures are user-facing SQL. To add a case, write its header lines and regenerate.

Only public entry points are used (spec parsing, `build_plan`, the schema model), so the
fixtures keep proving byte-identical output while the planner's modules move.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import replace
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from datamigration.db.model import schema_from_dict
from datamigration.errors import DataMigrationError
from datamigration.plan.backfill import batch_sql, boundary_sql
from datamigration.plan.planner import Measured, build_plan
from datamigration.plan.spec import parse_spec

if TYPE_CHECKING:  # annotations only: the test reaches the planner through its entry points
    from datamigration.db.model import Schema
    from datamigration.plan.model import Operation, Plan

ROOT = Path(__file__).parent.parent / "fixtures" / "plans"
DIALECTS = ("postgresql", "mysql", "sqlite", "mongodb")
INPUT_KEYS = ("case", "spec", "server_version")
CREATED_AT = "2025-01-01T00:00:00Z"
UPDATE = os.environ.get("DATAMIGRATION_UPDATE_GOLDENS") == "1"


def change_kinds() -> list[str]:
    """Every kind the change-spec schema accepts: the fixtures must cover each one."""
    text = files("datamigration").joinpath("schemas/change-spec.schema.json").read_text()
    return list(json.loads(text)["properties"]["kind"]["enum"])


@cache
def environment(dialect: str) -> tuple[Schema, Measured, str]:
    data = json.loads((ROOT / "schemas" / f"{dialect}.json").read_text(encoding="utf-8"))
    m = data["measured"]
    measured = Measured(m["rows"], m["sizes"], m["rate"], m["rate_source"])
    return schema_from_dict(data["schema"]), measured, data["database"]


# --- reading a fixture's inputs -------------------------------------------------------------------


def split_cases(text: str) -> list[dict[str, str]]:
    """The input header of each case (`-- key: value` lines from `-- case:` on); output lines
    are skipped, since they are regenerated."""
    cases: list[dict[str, str]] = []
    in_header = False
    for line in text.splitlines():
        key, _, value = line.removeprefix("-- ").partition(": ")
        if line.startswith("-- case: "):
            cases.append({"case": value})
            in_header = True
        elif in_header and line.startswith("-- ") and key in INPUT_KEYS:
            cases[-1][key] = value
        else:
            in_header = False
    return cases


# --- rendering a plan -----------------------------------------------------------------------------


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _comment(label: str, text: str) -> str:
    """A comment line; a text over several lines continues on indented comment lines."""
    return f"-- {label}: " + str(text).replace("\n", "\n--   ")


def render_operation(op: Operation, where: str) -> list[str]:
    flags = [op.kind]
    if op.kind in ("sql", "document"):
        flags.append("transaction" if op.transactional else "autocommit")
    flags += ["destructive"] if op.destructive else []
    out = [f"-- {where} {op.id} [{', '.join(flags)}] {op.description}"]
    if op.backfill is not None:
        b = op.backfill
        out.append(_comment("backfill", _json(b.to_dict())))
        after, upto = [5] * len(b.key_columns), [10005] * len(b.key_columns)
        out.append(_comment("boundary after 5", boundary_sql(b, after)))
        out.append(_comment("batch after 5 up to 10005", batch_sql(b, after, upto)))
    if op.params:
        out.append(_comment("params", _json(dict(op.params))))
    out += [f"{s};" for s in op.statements]
    return out


def render_plan(plan: Plan) -> list[str]:
    out = [f"-- pattern: {plan.pattern}"]
    out += [_comment("warning", w) for w in plan.warnings]
    for step in plan.steps:
        marks = [f"gates: {', '.join(step.gates)}"] if step.gates else []
        marks += ["destructive"] if step.destructive else []
        marks += [] if step.reversible else ["point of no return"]
        suffix = f" ({'; '.join(marks)})" if marks else ""
        out.append("")
        out.append(f"-- step {step.id} {step.phase}: {step.title}{suffix}")
        for op in step.operations:
            out += render_operation(op, "forward")
        for op in step.rollback:
            out += render_operation(op, "rollback")
        out += [_comment("validation", _json(dict(r))) for r in step.validation]
    out.append("")
    out += [_comment("post-validation", _json(dict(r))) for r in plan.post_validation]
    return out


def render_case(dialect: str, case: dict[str, str]) -> str:
    schema, measured, database = environment(dialect)
    if "server_version" in case:
        version = None if case["server_version"] == "unknown" else case["server_version"]
        schema = replace(schema, server_version=version)
    header = [f"-- {k}: {case[k]}" for k in INPUT_KEYS if k in case]
    try:
        plan = build_plan(parse_spec(json.loads(case["spec"])), schema, measured=measured,
                          database=database, created_at=CREATED_AT)  # fmt: skip
    except DataMigrationError as e:
        body = [_comment(f"refused ({type(e).__name__})", e.message), _comment("hint", e.hint)]
    else:
        body = render_plan(plan)
    return "\n".join(header + body) + "\n"


def render_file(path: Path) -> str:
    dialect = path.parent.name
    return "\n".join(render_case(dialect, c) for c in split_cases(path.read_text("utf-8")))


def differences(path: Path) -> str:
    """A unified diff from the reviewed file to the plan made now; empty when they agree."""
    expected = path.read_text(encoding="utf-8")
    actual = render_file(path)
    if UPDATE and actual != expected:
        path.write_text(actual, encoding="utf-8")
        return ""
    return "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            fromfile=f"{path.parent.name}/{path.name} (reviewed)",
            tofile=f"{path.parent.name}/{path.name} (planned now)",
        )
    )


# --- the tests ------------------------------------------------------------------------------------

FIXTURES = sorted(ROOT.glob("*/*.sql"))


@pytest.mark.parametrize("path", FIXTURES, ids=[f"{p.parent.name}-{p.stem}" for p in FIXTURES])
def test_the_plan_of_each_fixture_is_byte_identical_to_the_reviewed_file(path: Path) -> None:
    diff = differences(path)
    if diff:
        pytest.fail(
            "the plan differs from its fixture (DATAMIGRATION_UPDATE_GOLDENS=1 rewrites it; "
            "review the diff):\n" + diff,
            pytrace=False,
        )


def test_every_change_kind_has_a_fixture_on_every_dialect() -> None:
    have = {(p.parent.name, p.stem) for p in FIXTURES}
    missing = [(d, k) for d in DIALECTS for k in change_kinds() if (d, k) not in have]
    assert missing == []
    assert {p.parent.name for p in FIXTURES} == set(DIALECTS)


def test_every_fixture_case_names_a_spec_of_its_own_kind() -> None:
    for path in FIXTURES:
        cases = split_cases(path.read_text("utf-8"))
        assert cases, path
        assert len({c["case"] for c in cases}) == len(cases), path
        for c in cases:
            assert json.loads(c["spec"])["kind"] == path.stem, (path, c["case"])


def test_one_character_off_in_a_stored_statement_fails_with_a_unified_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(globals(), "UPDATE", False)  # the check must compare, never rewrite
    text = (ROOT / "postgresql" / "add_index.sql").read_text(encoding="utf-8")
    changed = tmp_path / "postgresql" / "add_index.sql"
    changed.parent.mkdir()
    changed.write_text(text.replace("CREATE INDEX CONCURRENTLY", "CREATE INDEX", 1), "utf-8")
    diff = differences(changed)
    assert "\n-CREATE INDEX users_n_ix ON users (n);\n" in diff
    assert "\n+CREATE INDEX CONCURRENTLY users_n_ix ON users (n);\n" in diff
    assert changed.read_text("utf-8") != text  # compared, not rewritten
