"""Garbage and generated SQL never crash the linter; a 10,000-statement file finishes.

(The speed figure for the large file is measured by bench/bench_lint_large_file.py.)
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datamigration.lint import lint_text
from datamigration.lint.model import LintOptions

FRAGMENTS = [
    "ALTER TABLE",
    "t",
    "ADD",
    "COLUMN",
    "c",
    "int",
    "NOT NULL",
    "DEFAULT",
    "now()",
    "CREATE",
    "INDEX",
    "CONCURRENTLY",
    "ON",
    "(a)",
    "BEGIN",
    "COMMIT",
    ";",
    "'",
    '"',
    "$$",
    "$x$",
    "--",
    "/*",
    "*/",
    "DROP",
    "RENAME",
    "TO",
    "CHECK",
    "(",
    ")",
    ",",
    "REFERENCES",
    "USING",
    "TYPE",
    "bigint",
    "SET",
    "lock_timeout",
    "=",
    "'2s'",
    "\n",
    "-- datamigration:ignore",
    "pg-drop-table",
    "ALGORITHM=INSTANT",
    "`x`",
    "[y]",
    "#",
]


@pytest.mark.parametrize("dialect", ["postgres", "mysql", "sqlite"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=300))
def test_arbitrary_text_never_crashes_the_linter(dialect, text):
    report = lint_text(text, "fuzz.sql", LintOptions(dialect=dialect))
    assert all(f.line >= 1 and f.column >= 1 for f in report.findings)


@pytest.mark.parametrize("dialect", ["postgres", "mysql", "sqlite"])
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(st.sampled_from(FRAGMENTS), max_size=40))
def test_sql_shaped_noise_never_crashes_and_unparsable_statements_are_findings(dialect, parts):
    text = " ".join(parts)
    report = lint_text(text, "noise.sql", LintOptions(dialect=dialect))
    assert report.statements >= 0


def test_a_statement_that_cannot_be_parsed_is_reported_not_skipped():
    report = lint_text("SELECT 1;\nALTER TABLE users ADD COLUMN;\nDROP TABLE t;", "x.sql")
    errors = [f for f in report.findings if f.rule == "parse-error"]
    assert [(f.line, f.column) for f in errors] == [(2, 1)]
    assert any(f.rule == "pg-drop-table" and f.line == 3 for f in report.findings)


def test_a_ten_thousand_statement_file_is_linted_to_the_end():
    body = "".join(
        f"ALTER TABLE t{i % 50} ADD COLUMN IF NOT EXISTS c{i} bigint;\n" for i in range(10_000)
    )
    report = lint_text("SET lock_timeout = '2s';\n" + body + "DROP TABLE legacy;\n", "big.sql")
    assert report.statements == 10_002
    assert [f.line for f in report.findings if f.rule == "pg-drop-table"] == [10_002]
