"""What every dialect's checker shares: turning a rule id into a Finding at a statement.

The checkers decide *whether* a rule fires and compose the message and the fix; this module
fills in everything the catalogue already knows (severity, lock, equivalents) so a finding can
never disagree with the rule reference.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from datamigration.lint.catalogue import rule
from datamigration.lint.model import Finding, LintOptions, Statement

#: Shown in a finding's `statement` field: enough to recognise it, never a whole file.
STATEMENT_PREVIEW = 300

#: A dialect's checker: the statements of one input in, its findings out.
Linter = Callable[[list[Statement], str, LintOptions], list[Finding]]
#: lint dialect -> its checker (`linter_for` registers one)
LINTERS: dict[str, Linter] = {}


def linter_for(lint_dialect: str) -> Callable[[Linter], Linter]:
    """Decorator: make the function the checker of `lint_dialect` (the `lint_dialect` of a
    `db.dialect.Dialect` class). It lives in `datamigration.lint.<lint_dialect>`, which
    `linter_of` imports on first use, so the engine names no dialect."""

    def register(fn: Linter) -> Linter:
        LINTERS[lint_dialect] = fn
        return fn

    return register


def linter_of(lint_dialect: str) -> Linter:
    """The registered checker of `lint_dialect`, importing its module on first use."""
    found = LINTERS.get(lint_dialect)
    if found is None:
        importlib.import_module(f"datamigration.lint.{lint_dialect}")
        found = LINTERS[lint_dialect]
    return found


class Emitter:
    def __init__(self, file: str, options: LintOptions) -> None:
        self.file = file
        self.options = options
        self.findings: list[Finding] = []
        #: tables created earlier in this file: no traffic yet, so no lock risk.
        self.created: set[str] = set()

    def is_new(self, table: str) -> bool:
        t = table.lower()
        return t in self.created or t.split(".")[-1] in self.created

    def created_table(self, table: str) -> None:
        self.created.add(table.lower())

    def emit(
        self,
        rule_id: str,
        stmt: Statement,
        message: str,
        fix: str = "",
        *,
        table: str = "",
        severity: str | None = None,
        notes: tuple[str, ...] = (),
    ) -> None:
        if rule_id in self.options.disabled_rules:
            return
        r = rule(rule_id)
        text = (
            stmt.text
            if len(stmt.text) <= STATEMENT_PREVIEW
            else stmt.text[:STATEMENT_PREVIEW] + "..."
        )
        self.findings.append(
            Finding(
                rule=r.id,
                severity=severity or r.severity,
                file=self.file,
                line=stmt.line,
                column=stmt.column,
                message=message,
                fix=fix or r.safe,
                equivalents=dict(r.equivalents),
                lock=r.lock,
                table=table,
                statement=text,
                end_line=stmt.end_line,
                notes=notes,
            )
        )
