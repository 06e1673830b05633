"""The canonical text form: the same value prints the same, whatever database it came from."""

from __future__ import annotations

import datetime as dt
import decimal
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamigration.errors import UserInputError
from datamigration.validate.canonical import (
    Normalisation,
    combine_kinds,
    kind_of,
    numeric_text,
    pg_float_text,
    render,
    row_hash,
)
from datamigration.validate.sqlrender import key_sql

# Printed by PostgreSQL 15 (`SELECT x::float8::text`, extra_float_digits = 1).
PG_FLOATS = {
    1.0: "1",
    0.1: "0.1",
    1e15: "1e+15",
    1e14: "100000000000000",
    123456789012345.6: "123456789012345.6",
    1e-4: "0.0001",
    1e-5: "1e-05",
    -2.5e-7: "-2.5e-07",
    1.5e300: "1.5e+300",
    5e-324: "5e-324",
    -0.0: "-0",
    123456789012345678.0: "1.2345678901234568e+17",
    float("nan"): "NaN",
    float("-inf"): "-Infinity",
}


@pytest.mark.parametrize(("value", "printed"), list(PG_FLOATS.items()))
def test_floats_print_as_postgresql_prints_them(value, printed):
    assert pg_float_text(value) == printed


def test_a_float_narrowed_to_four_bytes_prints_differently():
    narrowed = struct.unpack("f", struct.pack("f", 4999.99))[0]
    assert pg_float_text(4999.99) == "4999.99"
    assert pg_float_text(narrowed) == "4999.990234375"


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_text_round_trips_to_the_same_float(x):
    assert float(pg_float_text(x)) == x


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (decimal.Decimal("1.50"), "1.5"),
        (decimal.Decimal("2.00"), "2"),
        (decimal.Decimal(100), "100"),
        (decimal.Decimal("-0.00"), "0"),
        ("12.340", "12.34"),
        (7, "7"),
        (1.25, "1.25"),
    ],
)
def test_numeric_scale_is_trimmed(value, printed):
    assert numeric_text(value) == printed


def test_timestamps_become_utc_with_six_digits_and_truncate_to_the_precision():
    norm = Normalisation()
    paris = dt.datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert render(paris, "timestamptz", norm) == "2024-06-01 10:00:00.123456"
    assert render("2024-06-01 10:00:00", "timestamptz", norm) == "2024-06-01 10:00:00.000000"
    ms = Normalisation(timestamp_precision=3)
    assert render(paris, "timestamptz", ms) == "2024-06-01 10:00:00.123000"


def test_naive_timestamps_are_read_in_the_configured_zone():
    norm = Normalisation(naive_timezone="Europe/Paris")
    assert render(dt.datetime(2024, 1, 1, 12), "timestamp", norm) == "2024-01-01 11:00:00.000000"


def test_null_and_empty_text_hash_differently():
    assert row_hash(["1", "\x1e"]) != row_hash(["1", ""])


def test_booleans_uuids_bytes_and_json_have_one_spelling():
    norm = Normalisation()
    assert [render(v, "bool", norm) for v in (True, 0, "true", 1)] == ["t", "f", "t", "t"]
    assert render("ABCDEF00-0000-0000-0000-000000000000", "uuid", norm).startswith("abcdef00")
    assert render(b"\x01\xff", "bytes", norm) == "01ff"
    assert render('{"b": 1, "aa": [1.50, null], "a": "x"}', "json", norm) == (
        '{"a": "x", "b": 1, "aa": [1.50, null]}'
    )


def test_kinds_combine_so_a_typed_side_decides():
    assert kind_of("numeric(12,2)", "postgresql") == "numeric"
    assert kind_of("tinyint(1)", "mysql") == "bool"
    assert kind_of("timestamp", "mysql") == "timestamptz"
    assert kind_of("", "sqlite") is None
    assert combine_kinds("int", "numeric") == "numeric"
    assert combine_kinds("text", "timestamptz") == "timestamptz"
    assert combine_kinds(None, "float") == "float"
    assert combine_kinds("bool", "int") == "bool"


def test_a_bad_normalisation_option_says_what_is_allowed():
    with pytest.raises(UserInputError, match="timestamp_precision"):
        Normalisation(timestamp_precision=9)
    with pytest.raises(UserInputError, match="unknown normalisation"):
        Normalisation.from_dict({"precision": 3})


def test_text_keys_compare_bytewise_in_every_dialect():
    assert key_sql("postgresql", ['"k"'], [("text", "text")]).exprs == ('"k" COLLATE "C"',)
    assert key_sql("mysql", ["`k`"], [("text", "text")]).exprs == ("BINARY `k`",)
    pg = key_sql("postgresql", ['"a"', '"b"'], [("int", "int"), ("text", "text")])
    where, params = pg.range((1, "x"), None)
    assert where == '("a", "b" COLLATE "C") >= (%s, %s)' and params == [1, "x"]
