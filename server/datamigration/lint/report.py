"""Findings as text for people, JSON for scripts, and SARIF 2.1.0 for code-scanning in CI.

SARIF is what GitHub code scanning (and most CI dashboards) ingest: one run, our rules as
`tool.driver.rules` with their help text, each finding as a result pointing at file/line/column.
"""

from __future__ import annotations

from typing import Any

from datamigration import __version__
from datamigration.lint.catalogue import RULES
from datamigration.lint.model import LintReport

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def to_json(report: LintReport) -> list[dict[str, Any]]:
    """The JSON contract: a list of findings (rule, severity, file, line, column, message, fix,
    equivalents, plus lock/table/statement/notes)."""
    return [f.to_dict() for f in report.findings]


def to_text(report: LintReport, *, show_fix: bool = True) -> str:
    lines: list[str] = []
    for f in report.findings:
        lines.append(f"{f.file}:{f.line}:{f.column}: {f.severity} [{f.rule}] {f.message}")
        for note in f.notes:
            lines.append(f"    note: {note}")
        if show_fix and f.fix:
            lines.append("    fix:")
            lines += ["      " + ln for ln in f.fix.splitlines()]
    for t in report.traces:
        lines.append(
            f"{t.get('file', '')}:{t.get('line', '')}: trace: locks "
            f"{', '.join(t.get('locks', [])) or 'none'}; rewrite: "
            f"{'yes' if t.get('rewrote') else 'no'}"
            + (f"; error: {t['error']}" if t.get("error") else "")
        )
    n_files = len(report.files)
    lines.append(
        f"{n_files} file{'s' * (n_files != 1)}, "
        f"{sum(r.statements for r in report.files)} statements: {report.count('error')} errors, "
        f"{report.count('warning')} warnings, {report.count('info')} notes"
    )
    return "\n".join(lines)


def to_sarif(report: LintReport) -> dict[str, Any]:
    used = sorted({f.rule for f in report.findings})
    index = {rid: i for i, rid in enumerate(used)}
    rules = []
    for rid in used:
        r = RULES[rid]
        rules.append(
            {
                "id": r.id,
                "name": r.title,
                "shortDescription": {"text": r.title},
                "fullDescription": {"text": r.why},
                "help": {"text": f"Lock: {r.lock}. Safe alternative: {r.safe}"},
                "helpUri": f"docs/lint-rules.md#{r.id}",
                "defaultConfiguration": {"level": _SARIF_LEVEL[r.severity]},
                "properties": {"equivalents": r.equivalents, "category": r.category},
            }
        )
    results = []
    for f in report.findings:
        results.append(
            {
                "ruleId": f.rule,
                "ruleIndex": index[f.rule],
                "level": _SARIF_LEVEL.get(f.severity, "warning"),
                "message": {"text": f.message + (f"\nFix:\n{f.fix}" if f.fix else "")},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": f.file if f.file != "<stdin>" else "stdin"},
                            "region": {
                                "startLine": f.line,
                                "startColumn": f.column,
                                "endLine": max(f.end_line, f.line),
                            },
                        }
                    }
                ],
            }
        )
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "datamigration-lint",
                        "version": __version__,
                        "informationUri": "docs/lint-rules.md",
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
