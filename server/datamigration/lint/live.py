"""Live context from a database: table sizes decide severity, and `--trace` measures locks.

Sizes come from the database layer's `table_sizes()` (row estimates). Tracing uses
`lint.trace`: the tables each file touches are copied into scratch schemas, the file's
statements run against the copies in a transaction that is always rolled back, and the copies
are dropped, so the real tables see nothing stronger than ACCESS SHARE. Each file is traced on
its own copy.
"""

from __future__ import annotations

from dataclasses import replace

from datamigration.db import connect
from datamigration.db.dialect import lint_dialect_of
from datamigration.errors import UserInputError
from datamigration.lint import lint_inputs
from datamigration.lint.inputs import LintInput, collect_inputs
from datamigration.lint.model import LintOptions, LintReport
from datamigration.lint.split import split_statements
from datamigration.workspace.root import Workspace


def table_rows(backend: object) -> dict[str, int]:
    rows: dict[str, int] = {}
    for name, size in backend.table_sizes().items():  # type: ignore[attr-defined]
        estimate = size.row_estimate
        if estimate is None or estimate < 0:
            estimate = (size.size_bytes or 0) // 100
        key = name.lower().replace('"', "")
        rows[key] = estimate
        rows.setdefault(key.split(".")[-1], estimate)
    return rows


def lint_live(
    workspace: Workspace,
    paths: list[str],
    options: LintOptions,
    db: str,
    *,
    trace: bool = False,
    stdin_text: str | None = None,
    assume_given: bool = False,
    auto_dialect: bool = False,
) -> LintReport:
    """Lint with the live database's table sizes (and lock traces when `trace`).

    With `auto_dialect` the SQL dialect follows the database the URL names, so a SQLite or
    MySQL database is never judged by PostgreSQL rules just because no dialect was given.
    """
    inputs = collect_inputs(workspace, paths) if paths else []
    if stdin_text is not None:
        inputs.insert(0, LintInput("<stdin>", stdin_text, "sql"))
    with connect(db, workspace) as backend:
        if auto_dialect:
            dialect = backend.lint_dialect
            if not dialect:
                raise UserInputError(
                    f"cannot lint SQL against a {backend.dialect} database",
                    hint="Lint needs a PostgreSQL, MySQL/MariaDB or SQLite database for --db.",
                )
            options = replace(options, dialect=dialect)
        options = replace(options, table_rows=table_rows(backend))
        report = lint_inputs(inputs, options, assume_given)
        linted = lint_dialect_of(options.dialect)
        if trace and linted is not None and linted.lock_trace:
            if not backend.lock_trace:
                raise UserInputError(
                    "--trace measures PostgreSQL locks and needs a PostgreSQL database",
                    hint="Pass a postgresql:// URL with --db, or drop --trace.",
                )
            from datamigration.lint.trace import trace_statements

            for item in inputs:
                statements, _ = split_statements(item.text, options.dialect)
                for t in trace_statements(backend, [s.text for s in statements]):
                    s = statements[t.index]
                    report.traces.append(
                        {
                            "file": item.file,
                            "line": s.line,
                            "column": s.column,
                            "statement": s.text[:200],
                            **t.to_dict(),
                        }
                    )
    return report
