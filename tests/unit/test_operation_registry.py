"""Operations and change kinds are dispatched by registration (issue 11): one runner per
operation kind, one recipe per change kind, and the planner's toolkit imports no recipe."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from datamigration.execute import operations
from datamigration.execute.mongo_runner import MongoExecutor
from datamigration.execute.runner import Executor
from datamigration.plan import kinds, toolkit
from datamigration.plan.model import OPERATION_KINDS, Operation
from datamigration.plan.schemas import _load

PLAN = Path(kinds.__file__).parent


@pytest.mark.parametrize("executor", [Executor, MongoExecutor])
def test_every_kind_an_executor_runs_has_exactly_one_registered_runner(executor):
    for kind in executor.kinds:
        runner = operations.runner_for(kind)
        assert runner is not None and runner.kind == kind
    assert set(operations.registered_kinds()) <= set(OPERATION_KINDS)


def test_refuses_a_second_runner_for_a_registered_kind():
    with pytest.raises(ValueError, match="already has a runner"):
        operations.runs("sql")(type("Another", (operations.OperationRunner,), {}))
    assert type(operations.runner_for("sql")).__name__ == "SqlRunner"


def test_refuses_a_second_recipe_for_a_registered_kind():
    with pytest.raises(ValueError, match="already has a recipe"):
        toolkit.recipe("add_column")(lambda c: None)
    assert kinds.BUILDERS["add_column"].__name__ == "build_add_column"


def test_every_change_kind_of_the_spec_schema_has_exactly_its_recipe():
    kinds_in_schema = _load("change-spec")["properties"]["kind"]["enum"]
    assert sorted(kinds.BUILDERS) == sorted(kinds_in_schema)


def test_a_batched_operation_resumes_and_a_plain_one_is_marked_done_by_the_executor():
    backfill, manual = operations.runner_for("backfill"), operations.runner_for("manual")
    sql = operations.runner_for("sql")
    op = Operation(id="o1", kind="manual", dialect="postgresql", description="d")
    assert backfill is not None and backfill.resumes(op) and not backfill.marks_done(op)
    assert manual is not None and not manual.resumes(op) and manual.marks_done(op)
    assert sql is not None and not sql.marks_done(op)  # commits its mark with its statements


def test_the_run_log_records_the_statements_of_an_operation_and_the_document_of_a_mongo_one():
    manual = operations.runner_for("manual")
    op = Operation(id="o1", kind="manual", dialect="mysql", description="d")
    assert manual is not None and manual.log_fields(op) == {"statements": []}
    doc = Operation(id="o2", kind="document", dialect="mongodb", description="d",
                    params={"collection": "users", "op": "create_index"})  # fmt: skip
    runner = operations.runner_for("document")
    assert runner is not None and runner.log_fields(doc) == {"document": dict(doc.params)}


def test_the_toolkit_imports_no_recipe_and_recipes_import_no_entry_module():
    assert not _own_imports(PLAN / "toolkit.py") & {
        "datamigration.plan.kinds", "datamigration.plan.mongo_kinds",
        "datamigration.plan.rebuild_sqlite", "datamigration.plan.rebuild_mysql",
    } and not any("recipes_" in m for m in _own_imports(PLAN / "toolkit.py"))  # fmt: skip
    for path in [*PLAN.glob("recipes_*.py"), PLAN / "mongo_kinds.py", PLAN / "rebuild_sqlite.py",
                 PLAN / "rebuild_mysql.py"]:  # fmt: skip
        assert "datamigration.plan.kinds" not in _own_imports(path), path.name


def _own_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return out
