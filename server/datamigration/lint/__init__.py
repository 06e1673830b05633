"""Migration linter: locking and breaking-change rules with the safe rewrite of each statement.

`lint_text` checks one SQL text; `lint_paths` checks files, directories (migration folders of
the usual frameworks) and stdin text, optionally with live table sizes and lock tracing from a
database connection. Both return plain data (see `model`); `report` renders it.
"""

from __future__ import annotations

from dataclasses import replace

from datamigration.lint.engine import lint_text
from datamigration.lint.inputs import LintInput, collect_inputs
from datamigration.lint.model import FileReport, Finding, LintOptions, LintReport
from datamigration.workspace.root import Workspace

__all__ = [
    "FileReport",
    "Finding",
    "LintOptions",
    "LintReport",
    "lint_inputs",
    "lint_paths",
    "lint_text",
]


def lint_inputs(
    inputs: list[LintInput], options: LintOptions, assume_given: bool = False
) -> LintReport:
    """Lint prepared inputs. A framework's own transaction wrapping applies unless the caller
    stated `assume_in_transaction` explicitly (`assume_given`)."""
    report = LintReport()
    for item in inputs:
        opts = options
        if not assume_given and item.assume_in_transaction:
            opts = replace(options, assume_in_transaction=True)
        report.files.append(lint_text(item.text, item.file, opts, item.framework))
    return report


def lint_paths(
    workspace: Workspace,
    paths: list[str],
    options: LintOptions,
    *,
    stdin_text: str | None = None,
    assume_given: bool = False,
) -> LintReport:
    inputs = collect_inputs(workspace, paths) if paths else []
    if stdin_text is not None:
        inputs.insert(0, LintInput("<stdin>", stdin_text, "sql"))
    return lint_inputs(inputs, options, assume_given)
