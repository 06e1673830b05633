"""docs/lint-rules.md is generated from the catalogue and lists every rule and its mapping."""

from pathlib import Path

from datamigration.lint.catalogue import RULES
from datamigration.lint.docs import render

DOC = Path(__file__).parent.parent.parent / "docs" / "lint-rules.md"


def test_committed_rule_reference_matches_the_catalogue():
    assert DOC.read_text() == render(), "run: python -m datamigration.lint.docs docs/lint-rules.md"


def test_rule_reference_has_a_section_and_a_mapping_row_per_rule():
    text = DOC.read_text()
    for rule_id in RULES:
        assert f"### {rule_id}\n" in text
        assert f"| [`{rule_id}`](#{rule_id}) |" in text


def test_every_rule_says_its_lock_why_and_safe_alternative():
    for r in RULES.values():
        assert r.lock and r.why and r.safe and r.severity in ("error", "warning", "info"), r.id
