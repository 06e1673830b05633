"""The bounded JSON/YAML loader: the depth bound is exact, aliases cannot blow up the walk."""

from __future__ import annotations

import pytest

from datamigration.errors import FileFormatError
from datamigration.safeload import (
    MAX_DEPTH,
    check_depth,
    load_json,
    load_yaml,
    require_object,
)


def brackets(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_nesting_up_to_the_bound_is_accepted_and_one_more_level_is_refused() -> None:
    assert load_json(brackets(MAX_DEPTH), source="s", hint="h") is not None
    assert load_yaml(brackets(MAX_DEPTH), source="s", hint="h") is not None
    for load in (load_json, load_yaml):
        with pytest.raises(FileFormatError) as caught:
            load(brackets(MAX_DEPTH + 1), source="s.json", hint="Fix it.")
        assert caught.value.message == f"s.json: the value nests deeper than {MAX_DEPTH} levels"
        assert caught.value.hint.startswith("Fix it.")


def test_yaml_aliases_that_describe_a_huge_tree_are_refused_as_too_many_values() -> None:
    # "Billion laughs": nine levels of ten aliases each is 10**9 leaves from a 1 KB file.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    with pytest.raises(FileFormatError) as caught:
        load_yaml("\n".join(lines), source="rules.yaml", hint="h")
    assert "more than 1,000,000 values" in caught.value.message


def test_syntax_errors_keep_their_line_and_the_callers_hint() -> None:
    with pytest.raises(FileFormatError) as caught:
        load_json('{\n"a": }', source="spec.json", hint="Fix the JSON.")
    assert caught.value.data["line"] == 2 and caught.value.hint == "Fix the JSON."
    with pytest.raises(FileFormatError) as caught:
        load_yaml("a: [\nb: 1\n", source="rules.yaml", hint="Fix the YAML.")
    assert "rules.yaml:" in caught.value.message and caught.value.hint == "Fix the YAML."


@pytest.mark.parametrize(
    ("value", "found"),
    [([1, 2, 3], "an array"), ("x", "a string"), (None, "null"), (1, "a number"),
     (True, "a boolean")],
)  # fmt: skip
def test_require_object_says_what_was_found_instead(value: object, found: str) -> None:
    with pytest.raises(FileFormatError) as caught:
        require_object(value, source="spec.json", hint="h", what="a change spec")
    assert caught.value.message == f"spec.json: must be a change spec, found {found}"


def test_check_depth_returns_shallow_values_unchanged() -> None:
    value = {"a": [1, {"b": None}]}
    assert check_depth(value, source="s", hint="h") is value
