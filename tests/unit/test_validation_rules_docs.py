"""The rules files people write from docs/validation.md parse and pass the schema (issue 10
item 21: the example's bare `on:` was YAML 1.1's `true`), and one vocabulary names columns."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from datamigration.errors import FileFormatError
from datamigration.validate.rules import RulesLoader, check_rules, load_rules, normalise_rules

DOC = Path(__file__).resolve().parents[2] / "docs" / "validation.md"
BLOCK = re.compile(r"^```(yaml|json)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks() -> list[tuple[str, str]]:
    return BLOCK.findall(DOC.read_text(encoding="utf-8"))


def test_docs_validation_has_rules_examples():
    assert blocks(), "docs/validation.md lost its rules example"


@pytest.mark.parametrize(("lang", "text"), blocks())
def test_every_yaml_and_json_block_of_docs_validation_is_a_valid_rules_file(lang, text):
    data = json.loads(text) if lang == "json" else yaml.load(text, RulesLoader)
    check_rules(data, "docs/validation.md")
    assert normalise_rules(data)[1] == [], "the docs should show the current vocabulary"


def test_a_bare_on_is_a_key_and_yes_no_stay_strings(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - {type: not_null, table: t, columns: [a], on: target}\n"
        "  - {type: allowed_values, table: t, columns: [answer], values: [yes, no, on, off]}\n",
        encoding="utf-8",
    )
    rules = load_rules(path)["rules"]
    assert rules[0]["on"] == "target"
    assert rules[1]["values"] == ["yes", "no", "on", "off"]


@pytest.mark.parametrize("kind", ["range", "date_range", "allowed_values", "regex"])
def test_the_old_column_spelling_is_read_as_columns_with_a_deprecation_note(kind):
    rule = {"id": "r1", "type": kind, "table": "t", "column": "c", "values": [1], "pattern": "x"}
    check_rules({"rules": [rule]})
    data, notes = normalise_rules({"rules": [rule]})
    assert data["rules"][0]["columns"] == ["c"] and "column" not in data["rules"][0]
    assert notes == ["rule r1: `column` is deprecated, write `columns: [c]`"]


@pytest.mark.parametrize(
    "rule",
    [
        {"type": "range", "table": "t", "column": "c", "columns": ["c"]},  # both spellings
        {"type": "range", "table": "t", "min": 0},  # neither
        {"type": "regex", "table": "t", "columns": ["a", "b"], "pattern": "x"},  # one only
        {"type": "allowed_values", "table": "t", "columns": ["a", "b"], "values": [1]},
    ],
)
def test_refuses_a_rule_naming_its_columns_ambiguously(rule):
    with pytest.raises(FileFormatError):
        check_rules({"rules": [rule]})
