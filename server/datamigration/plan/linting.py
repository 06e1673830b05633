"""Lint the plan's own SQL with the lint engine before anyone sees the plan.

Each SQL operation is linted as the executor will run it: with the lock timeout it sets first and
in a transaction when the operation is transactional. Findings that the expand-contract recipe
answers by construction (a column dropped only in the contract step, SET NOT NULL proved by a
validated CHECK) are kept in the plan marked `ignored` with the reason, so a reviewer sees both
the rule and why it does not apply; every other finding stays open. Raw SQL gets no ignores.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from datamigration.db.dialect import find_dialect
from datamigration.lint import LintOptions, lint_text
from datamigration.plan.backfill import batch_sql
from datamigration.plan.model import Operation, Plan

CONTRACT = (
    "contract step: runs only after validation passed and on explicit confirmation, "
    "when no application version uses the old shape"
)
REASONS: dict[str, str] = {
    "pg-drop-column": CONTRACT,
    "mysql-drop-column": CONTRACT,
    "sqlite-drop-column": CONTRACT,
    "pg-drop-table": CONTRACT,
    "mysql-drop-table": CONTRACT,
    "sqlite-drop-table": CONTRACT,
    "pg-drop-not-null": "rollback of a NOT NULL the plan added",
    "pg-set-not-null": "proved by a validated CHECK (col IS NOT NULL): PostgreSQL 12+ skips the scan",
    "pg-rename-column": "the swap of expand-contract: sync triggers keep both columns equal and the "
    "column keeps its name for the application",
    "mysql-rename-column": "the swap of expand-contract, in one ALTER, with sync triggers",
    "sqlite-rename-column": "the swap of expand-contract, in one short transaction, with sync triggers",
    "pg-rename-table": "a view under the old name keeps the old application working",
    "mysql-rename-table": "a view under the old name keeps the old application working",
    "sqlite-rename-table": "a view under the old name keeps reads of the old application working; "
    "in a table rebuild, the swap: the new table takes the name in the same transaction",
    "pg-not-rerunnable": "the executor records each completed operation durably and never re-runs one",
    "pg-missing-statement-timeout": "long by design (CONCURRENTLY / VALIDATE) and takes no lock "
    "that blocks reads or writes",
    "pg-precheck-existing-data": "the step's validation rules check the existing data",
    "pg-statements-after-access-exclusive": "metadata-only statements in one short transaction",
    "mysql-missing-lock-wait-timeout": "the executor sets lock_wait_timeout from lock_timeout_ms",
    "pg-foreign-key-without-index": "the plan builds the index before the foreign key",
    "pg-add-unique-constraint": "USING INDEX of an index built CONCURRENTLY: no scan under lock",
    "pg-prefer-bigint": "the type asked for in the spec",
    "pg-prefer-text": "the type asked for in the spec",
    "pg-prefer-timestamptz": "the type asked for in the spec",
    "pg-json-column": "the type asked for in the spec",
    "sqlite-alter-needs-rebuild": "",
}
PRELUDE = {
    "postgresql": "SET lock_timeout = '{ms}ms';\n",
    "mysql": "SET SESSION lock_wait_timeout = {s};\n",
    "sqlite": "",
}
#: A trigger body the planner generated (MySQL IF ... ELSEIF ... END IF in BEGIN ... END) that
#: the SQL parser behind the linter cannot read. Only for CREATE TRIGGER of generated plans;
#: raw SQL keeps the finding open.
TRIGGER_PARSE = (
    "generated trigger body (a compound statement the linter's parser cannot read); the same "
    "text is golden-tested and created on the database by the integration tests"
)


def lint_operation(
    op: Operation, rows: Mapping[str, int] | None = None, *, raw: bool = False
) -> list[dict[str, Any]]:
    # a backfill's statements are its rendered sample batch: linted like any other statement
    facts = find_dialect(op.dialect)
    lint_dialect = facts.lint_dialect if facts else ""  # empty: no SQL the linter reads
    if op.kind not in ("sql", "backfill") or not lint_dialect or not op.statements:
        return []
    ms = op.lock_timeout_ms or 2000
    prelude = PRELUDE[op.dialect].format(ms=ms, s=max(1, ms // 1000))
    statements = op.statements
    if op.kind == "backfill" and op.backfill is not None:
        # the batch as the executor sends it: bound by a literal key, not the :upto marker

        statements = (batch_sql(op.backfill, None, [0] * len(op.backfill.key_columns)),)
    text = prelude + ";\n".join(statements) + ";\n"
    options = LintOptions(
        dialect=lint_dialect,
        assume_in_transaction=op.transactional,
        table_rows=dict(rows) if rows else None,
    )
    report = lint_text(text, f"{op.id or 'operation'}.sql", options)
    out = []
    for f in report.findings:
        reason = None if raw else REASONS.get(f.rule) or None
        if not raw and f.rule == "parse-error" and _is_trigger(f.statement):
            reason = TRIGGER_PARSE
        out.append(
            {
                "rule": f.rule,
                "severity": f.severity,
                "message": f.message,
                "operation": op.id,
                "statement": f.statement[:300],
                "fix": f.fix,
                "ignored": reason is not None,
                "reason": reason,
            }
        )
    return out


def _is_trigger(statement: str) -> bool:
    words = statement.lstrip().split(None, 2)
    return [w.upper() for w in words[:2]] == ["CREATE", "TRIGGER"]


def lint_plan(plan: Plan, rows: Mapping[str, int] | None = None) -> list[dict[str, Any]]:
    raw = plan.spec.kind == "raw_sql"
    out: list[dict[str, Any]] = []
    for step in plan.steps:
        for op in (*step.operations, *step.rollback):
            for f in lint_operation(op, rows, raw=raw):
                out.append({**f, "step": step.id})
    return out


def open_findings(plan: Plan, severity: str = "error") -> list[Mapping[str, Any]]:
    return [f for f in plan.lint if not f.get("ignored") and f.get("severity") == severity]
