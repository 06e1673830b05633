"""Documents flattened into rows for a SQL target (`db.mongodb.source.flatten`)."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest
from bson import Decimal128, ObjectId

from datamigration.db.mongodb.source import decode_key, encode_key, flatten

COLUMNS = ("_id", "n", "price", "at", "tags", "any")
KINDS = ("objectId", "long", "decimal", "date", "array", "mixed")


def test_a_document_becomes_a_row_of_sql_values_and_extended_json() -> None:
    oid = ObjectId("650000000000000000000001")
    doc = {"_id": oid, "n": 7, "price": Decimal128("1.10"), "at": dt.datetime(2024, 1, 2),
           "tags": [oid, "x"], "any": "s"}  # fmt: skip
    row = flatten(doc, COLUMNS, KINDS)
    assert row[:3] == ("650000000000000000000001", 7, decimal.Decimal("1.10"))
    assert row[3] == dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    assert row[4] == '[{"$oid": "650000000000000000000001"}, "x"]' and row[5] == '"s"'


def test_a_missing_field_is_null_and_a_misfit_or_unknown_field_is_an_error() -> None:
    assert flatten({"_id": ObjectId()}, COLUMNS, KINDS)[1:] == (None,) * 5
    with pytest.raises(ValueError, match="does not fit a long column"):
        flatten({"_id": ObjectId(), "n": "seven"}, COLUMNS, KINDS)
    with pytest.raises(ValueError, match="does not fit a long column"):
        flatten({"_id": ObjectId(), "n": True}, COLUMNS, KINDS)
    with pytest.raises(ValueError, match="extra have no column"):
        flatten({"_id": ObjectId(), "extra": 1}, COLUMNS, KINDS)
    with pytest.raises(ValueError, match="does not fit a array column"):
        flatten({"_id": ObjectId(), "tags": {"a": 1}}, COLUMNS, KINDS)


def test_a_key_bound_survives_its_json_form_in_the_state_table() -> None:
    oid = ObjectId()
    assert decode_key(list(encode_key([oid]))) == oid
    when = dt.datetime(2024, 5, 6, 7, 8, 9, 123000)  # as pymongo reads dates: naive UTC
    assert decode_key(list(encode_key([when]))) == when
    assert decode_key(list(encode_key([42]))) == 42
