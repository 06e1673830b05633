"""Golden tests: every rule fires on its unsafe example with the exact stored fix, and stays
silent on the safe variant. Regenerate the stored fixes with LINT_GOLDEN_REGEN=1 (then review
the diff: a fix is user-facing SQL)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from datamigration.lint import lint_text
from datamigration.lint.catalogue import RULES
from datamigration.lint.model import LintOptions
from lint_corpus.golden_cases import CASES

GOLDEN = Path(__file__).parent.parent / "lint_corpus" / "golden" / "fixes.json"


def _options(dialect: str, extra: dict) -> LintOptions:
    return LintOptions(dialect=dialect, **extra)


def _fixes() -> dict[str, str]:
    return json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}


def test_every_rule_has_a_golden_case():
    assert {c[0] for c in CASES} == set(RULES)


@pytest.mark.parametrize("rule,dialect,unsafe,safe,extra", CASES, ids=[c[0] for c in CASES])
def test_unsafe_input_produces_the_rule_with_the_exact_fix(rule, dialect, unsafe, safe, extra):
    findings = [
        f
        for f in lint_text(unsafe, "case.sql", _options(dialect, extra)).findings
        if f.rule == rule
    ]
    assert findings, f"{rule} did not fire on: {unsafe}"
    assert findings[0].line >= 1 and findings[0].column >= 1
    if os.environ.get("LINT_GOLDEN_REGEN"):
        stored = _fixes()
        stored[rule] = findings[0].fix
        GOLDEN.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n")
    assert findings[0].fix == _fixes()[rule]


@pytest.mark.parametrize("rule,dialect,unsafe,safe,extra", CASES, ids=[c[0] for c in CASES])
def test_safe_variant_does_not_produce_the_rule(rule, dialect, unsafe, safe, extra):
    found = [f.rule for f in lint_text(safe, "case.sql", _options(dialect, extra)).findings]
    assert rule not in found
