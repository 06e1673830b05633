"""Trigger capture without a database: run names, the objects' names and whose they are, the
key a table is captured by, and the refusal that lists the choices."""

from __future__ import annotations

import decimal

import pytest

from datamigration.db.model import Column, Index, PrimaryKey, Table, UniqueConstraint
from datamigration.db.trigger_capture import (
    capture_key,
    floats_inside,
    parse_json,
    run_of,
    table_tag,
    valid_run,
)
from datamigration.errors import UserInputError


@pytest.mark.parametrize("name", ["", "Users", "a-b", "a b", "x" * 41, "a;drop", "ü"])
def test_a_run_name_outside_lowercase_letters_digits_and_underscores_is_refused(name: str) -> None:
    with pytest.raises(UserInputError):
        valid_run(name)


def test_object_names_say_which_run_they_belong_to_even_with_underscores_in_the_run() -> None:
    tag = table_tag("users")
    assert run_of("dm_sync_users_move_changes") == "users_move"
    assert run_of(f"dm_sync_users_move_{tag}_i") == "users_move"
    assert run_of(f"dm_sync_a_1_{tag}_fn") == "a_1"
    assert run_of(f"dm_sync_a_{tag}_t") == "a"
    assert run_of("dm_sync_a_pub") is None and run_of("users_changes") is None
    assert run_of(f"dm_sync_{'x' * 40}_{tag}_r") == "x" * 40
    assert len(f"dm_sync_{'x' * 40}_{tag}_fn") <= 63


def col(name: str, nullable: bool = True) -> Column:
    return Column(name=name, data_type="int", type_name="int", nullable=nullable)


def test_the_key_is_the_primary_key_else_a_unique_key_over_not_null_columns() -> None:
    with_pk = Table("t", columns=(col("id", False),), primary_key=PrimaryKey("pk", ("id",)))
    assert capture_key(with_pk) == ("id",)
    unique = Table(
        "u",
        columns=(col("a"), col("b", False), col("c", False)),
        uniques=(UniqueConstraint("ua", ("a",)), UniqueConstraint("ubc", ("b", "c"))),
    )
    assert capture_key(unique) == ("b", "c")
    index = Table("v", columns=(col("e", False),), indexes=(Index("ix", ("e",), unique=True),))
    assert capture_key(index) == ("e",)
    partial = Table(
        "w", columns=(col("e", False),), indexes=(Index("ix", ("e",), True, predicate="e > 0"),)
    )
    assert capture_key(partial) is None


def test_numbers_keep_their_digits_and_documents_get_floats_back() -> None:
    parsed = parse_json('{"n": 12.50, "i": 7, "doc": {"x": [1.5]}}')
    assert parsed["n"] == decimal.Decimal("12.50") and str(parsed["n"]) == "12.50"
    assert parsed["i"] == 7 and floats_inside(parsed["doc"]) == {"x": [1.5]}
    assert isinstance(floats_inside(parsed["doc"])["x"][0], float)
