"""The linter's front door: SQL text in, findings out, for one input at a time.

Splits the text, hands the statements to the dialect's checker, applies inline ignores and, when
live table sizes are known, lets the size decide severity: an empty table is not a risk, a
table with millions of rows is.
"""

from __future__ import annotations

from dataclasses import replace

from datamigration.db.dialect import lint_dialect_of
from datamigration.errors import UserInputError
from datamigration.lint.base import linter_of
from datamigration.lint.catalogue import RULES
from datamigration.lint.ignores import apply_ignores
from datamigration.lint.model import DIALECTS, FileReport, Finding, LintOptions
from datamigration.lint.split import split_statements

#: Below this many rows a lock is over before anyone notices.
SMALL_TABLE_ROWS = 10_000
#: From this many rows on, a blocking operation is an outage.
LARGE_TABLE_ROWS = 1_000_000


def lint_text(
    text: str, file: str = "<stdin>", options: LintOptions | None = None, framework: str = "sql"
) -> FileReport:
    options = options or LintOptions()
    if lint_dialect_of(options.dialect) is None:
        raise UserInputError(
            f"unknown dialect {options.dialect!r}", hint=f"Use one of: {', '.join(DIALECTS)}."
        )
    statements, trailing = split_statements(text, options.dialect)
    findings = linter_of(options.dialect)(statements, file, options)
    findings = apply_ignores(findings, statements, trailing, file)
    if options.table_rows is not None:
        findings = [size_adjusted(f, options.table_rows) for f in findings]
    findings.sort(key=lambda f: (f.line, f.column, f.rule))
    return FileReport(
        file=file,
        dialect=options.dialect,
        framework=framework,
        statements=len(statements),
        findings=findings,
    )


def _rows_of(table: str, sizes: dict[str, int]) -> int | None:
    t = table.lower().replace('"', "")
    if t in sizes:
        return sizes[t]
    return sizes.get(t.split(".")[-1])


def size_adjusted(f: Finding, sizes: dict[str, int]) -> Finding:
    """Severity from the live size of the table the finding is about (size-sensitive rules)."""
    r = RULES.get(f.rule)
    if r is None or not r.size_sensitive or not f.table:
        return f
    rows = _rows_of(f.table, sizes)
    if rows is None:
        return replace(
            f,
            severity="info",
            notes=f.notes
            + (
                f"{f.table} does not exist in the connected database yet (new table: no lock risk)",
            ),
        )
    if rows < SMALL_TABLE_ROWS:
        return replace(
            f,
            severity="info",
            notes=f.notes + (f"{f.table} has about {rows} rows: the lock is brief",),
        )
    if rows >= LARGE_TABLE_ROWS:
        return replace(
            f,
            severity="error",
            notes=f.notes + (f"{f.table} has about {rows:,} rows: this blocks production traffic",),
        )
    return replace(f, notes=f.notes + (f"{f.table} has about {rows:,} rows",))
