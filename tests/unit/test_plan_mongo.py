"""Tests of MongoDB plans without a database: the plan schema and hash, plan.md, refusals, and
the client-side transforms the backfill and its check evaluate. The document operations each
change kind generates (plain JSON, with their reverses) are in the golden fixtures:
tests/fixtures/plans/mongodb/."""

from __future__ import annotations

import datetime as dt

import pytest
from bson import Decimal128, Int64

from datamigration.db.model import Collection, FieldStat, Index, Schema
from datamigration.db.mongodb import transform as tf
from datamigration.documents import transform as vocabulary
from datamigration.plan.documents import plan_markdown
from datamigration.plan.model import Plan, plan_hash
from datamigration.plan.planner import Measured, build_plan
from datamigration.plan.schemas import errors
from datamigration.plan.spec import parse_spec
from datamigration.plan.toolkit import MOVE_REFUSAL, NotYetSupportedError

USERS = Collection(
    name="users",
    document_count=5000,
    indexes=(
        Index("_id_", ("_id:1",), unique=True, primary=True),
        Index("users_age_idx", ("age:1",), definition='{"key": {"age": 1}, "name": "users_age_idx", "sparse": true}'),
    ),
    fields=(
        FieldStat("_id", {"objectId": 100}, 100, 1.0),
        FieldStat("full_name", {"string": 100}, 100, 1.0),
        FieldStat("age", {"int": 100}, 100, 1.0),
        FieldStat("joined", {"string": 100}, 100, 1.0),
        FieldStat("email", {"string": 90, "null": 10}, 100, 1.0),
    ),
    sampled=100,
)  # fmt: skip
SCHEMA = Schema(dialect="mongodb", database="app", collections=(USERS,))


def plan(spec: dict) -> Plan:
    return build_plan(
        parse_spec({"batch_size": 1000, **spec}),
        SCHEMA,
        measured=Measured({"users": 5000}, {}, 10_000.0, "test"),
        database="mongodb://db/app",
        created_at="2026-01-01T00:00:00Z",
        plan_id="p1",
    )


RENAME = {"kind": "rename_column", "table": "users", "column": "full_name",
          "new_name": "display_name"}  # fmt: skip


def test_mongo_plans_conform_to_the_schema_round_trip_and_hash_their_operations():
    for spec in (RENAME, {"kind": "change_type", "table": "users", "column": "age", "type": "long"},
                 {"kind": "set_not_null", "table": "users", "column": "email", "fill": '"n/a"'},
                 {"kind": "add_index", "table": "users", "columns": ["email"], "unique": True},
                 {"kind": "drop_index", "name": "users_age_idx"},
                 {"kind": "add_column", "table": "users", "column": "plan", "type": "string",
                  "default": "free"},
                 {"kind": "drop_column", "table": "users", "column": "joined"},
                 {"kind": "backfill", "table": "users", "set": {"age": '{"$toLong": "$age"}'}}):  # fmt: skip
        p = plan(spec)
        data = p.to_dict()
        assert errors(data, "plan") == [], spec["kind"]
        assert Plan.from_dict(data).compute_hash() == p.hash
    data = plan(RENAME).to_dict()
    data["phases"][1]["steps"][0]["operations"][0]["params"]["filter"] = {}
    assert plan_hash(data) != plan(RENAME).hash  # the hash covers every document operation


def test_plan_md_shows_the_document_operations_as_mongosh():
    md = plan_markdown(plan(RENAME))
    assert "```js\n// keyset batches of 1,000 documents by _id" in md
    assert 'db.users.updateMany({"full_name": {"$exists": true}}, [{"$set": ' in md
    assert (
        'db.users.updateMany({"full_name": {"$exists": true}}, {"$unset": {"full_name": ""}})' in md
    )
    assert "```sql" not in md


def test_only_in_place_collection_changes_are_planned():
    with pytest.raises(NotYetSupportedError) as err:
        plan({"kind": "split_table", "table": "users", "new_table": "p", "columns": ["age"]})
    assert "only in-place collection changes" in err.value.message
    with pytest.raises(NotYetSupportedError) as err:
        plan({"kind": "move_table", "table": "users", "target": "postgresql://x/y"})
    assert err.value.message == MOVE_REFUSAL


@pytest.mark.parametrize(
    ("value", "to", "expected"),
    [
        (5, "long", Int64(5)),
        ("42", "int", 42),
        (-2.7, "long", Int64(-2)),  # truncated toward zero, as MongoDB does
        (7, "string", "7"),
        (1.5, "string", "1.5"),
        (True, "string", "true"),
        ("2024-03-01", "date", dt.datetime(2024, 3, 1)),
        ("2024-03-01T10:00:00.123456Z", "date", dt.datetime(2024, 3, 1, 10, 0, 0, 123000)),
        (dt.datetime(2024, 3, 1, 10, 0, 0, 5000), "string", "2024-03-01T10:00:00.005Z"),
        (0, "date", dt.datetime(1970, 1, 1)),
        ("", "bool", True),
        ("1.25", "decimal", Decimal128("1.25")),
    ],
)
def test_conversions_follow_mongodb(value, to, expected):
    out = tf.convert(value, to)
    assert out == expected and type(out) is type(expected)


def test_transforms_read_paths_fall_back_and_refuse_what_they_cannot_convert():
    doc = {"a": {"b": "12"}, "n": None, "s": "x"}
    assert tf.evaluate({"$toInt": "$a.b"}, doc) == 12
    assert tf.evaluate("$missing", doc) is vocabulary.MISSING
    assert tf.evaluate({"$convert": {"input": "$n", "to": "int", "onNull": 0}}, doc) == 0
    assert tf.evaluate({"$convert": {"input": "$s", "to": "int", "onError": -1}}, doc) == -1
    assert tf.evaluate({"$concat": ["$s", "-", "$a.b"]}, doc) == "x-12"
    with pytest.raises(vocabulary.ConversionError):
        tf.evaluate({"$toLong": "$s"}, doc)
    with pytest.raises(vocabulary.ConversionError):
        tf.convert(2**40, "int")
    assert vocabulary.input_fields({"$concat": ["$s", {"$literal": "$x"}, "$a.b"]}) == ["s", "a.b"]
    # int and long are one kind; 1 is not True
    assert vocabulary.same_value(Int64(3), 3) and not vocabulary.same_value(1, True)
