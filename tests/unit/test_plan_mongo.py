"""Golden tests of MongoDB plans without a database: the document operations each change kind
generates (plain JSON, with their reverses), the plan schema and hash, plan.md, refusals, and
the client-side transforms the backfill and its check evaluate."""

from __future__ import annotations

import datetime as dt

import pytest
from bson import Decimal128, Int64

from datamigration.db import mongo_transform as tf
from datamigration.db.model import Collection, FieldStat, Index, Schema
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


def docs(p: Plan, step: int) -> list[dict]:
    return [dict(o.params) for o in p.steps[step].operations]


RENAME = {"kind": "rename_column", "table": "users", "column": "full_name",
          "new_name": "display_name"}  # fmt: skip


def test_rename_expands_backfills_checks_and_contracts_with_document_operations():
    p = plan(RENAME)
    assert [(s.phase, s.operations[0].kind) for s in p.steps] == [
        ("expand", "manual"), ("migrate", "document"), ("switch", "manual"),
        ("switch", "manual"), ("contract", "document"), ("contract", "document"),
    ]  # fmt: skip
    assert "MongoDB has no triggers" in p.steps[0].operations[0].params["instructions"]
    assert docs(p, 1) == [
        {"collection": "users", "op": "set_fields", "filter": {"full_name": {"$exists": True}},
         "set": {"display_name": "$full_name"}, "batch_size": 1000, "estimated_documents": 5000},
        {"collection": "users", "op": "count_mismatches",
         "filter": {"full_name": {"$exists": True}}, "expect": {"display_name": "$full_name"},
         "max": 0},
    ]  # fmt: skip
    assert [dict(r.params) for r in p.steps[1].rollback] == [
        {"collection": "users", "op": "update_many", "filter": {"display_name": {"$exists": True}},
         "update": {"$unset": {"display_name": ""}}, "batch_size": 1000,
         "estimated_documents": 5000},
    ]  # fmt: skip
    contract = p.steps[-1]
    assert contract.destructive and contract.reversible
    assert "validation_passed" in contract.gates
    assert docs(p, 5)[0]["update"] == {"$unset": {"full_name": ""}}
    assert dict(contract.rollback[0].params)["set"] == {"full_name": "$display_name"}
    assert p.post_validation == ({"id": "post-users-id-present", "type": "not_null",
                                  "table": "users", "columns": ["_id"],
                                  "description": "every document still has its _id"},)  # fmt: skip


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


def test_change_type_converts_into_a_new_field_and_knows_when_the_contract_can_be_undone():
    p = plan({"kind": "change_type", "table": "users", "column": "age", "type": "long"})
    assert docs(p, 1)[0]["set"] == {"age_long": {"$convert": {"input": "$age", "to": "long"}}}
    assert p.steps[-1].reversible  # int -> long -> int gives the same value
    assert dict(p.steps[-1].rollback[0].params)["set"] == {
        "age": {"$convert": {"input": "$age_long", "to": "int"}}}  # fmt: skip
    to_date = plan({"kind": "change_type", "table": "users", "column": "joined", "type": "date"})
    assert not to_date.steps[-1].reversible  # the original text cannot be rebuilt exactly
    assert any("joined_date" in w for w in to_date.warnings)


def test_required_field_is_a_validator_in_warn_then_error_with_the_old_one_restored():
    p = plan({"kind": "set_not_null", "table": "users", "column": "email", "fill": '"n/a"'})
    fill, warn, enforce = (docs(p, i)[0] for i in range(3))
    assert fill["filter"] == {"email": {"$in": [None]}} and fill["update"] == {
        "$set": {"email": "n/a"}}  # fmt: skip
    assert not p.steps[0].reversible
    schema = {"$jsonSchema": {"bsonType": "object", "required": ["email"],
                              "properties": {"email": {"not": {"bsonType": "null"}}}}}  # fmt: skip
    assert (warn["validator"], warn["validationAction"]) == (schema, "warn")
    assert (enforce["validator"], enforce["validationAction"]) == (schema, "error")
    assert "validation_passed" in p.steps[2].gates
    back = dict(p.steps[1].rollback[0].params)
    assert back["validator"] is None and back["op"] == "coll_mod"


def test_indexes_are_built_and_dropped_with_their_keys_and_options():
    p = plan({"kind": "add_index", "table": "users", "columns": ["email", "age:-1"],
              "unique": True})  # fmt: skip
    assert docs(p, 0) == [{"collection": "users", "op": "create_index",
                           "keys": [["email", 1], ["age", -1]],
                           "options": {"name": "users_email_age_key", "unique": True}}]  # fmt: skip
    assert p.steps[0].validation[0]["type"] == "unique"
    assert dict(p.steps[0].rollback[0].params)["op"] == "drop_index"
    d = plan({"kind": "drop_index", "name": "users_age_idx"})
    assert dict(d.steps[0].rollback[0].params) == {
        "collection": "users", "op": "create_index", "keys": [["age", 1]],
        "options": {"name": "users_age_idx", "sparse": True}}  # fmt: skip


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
    assert tf.evaluate("$missing", doc) is tf.MISSING
    assert tf.evaluate({"$convert": {"input": "$n", "to": "int", "onNull": 0}}, doc) == 0
    assert tf.evaluate({"$convert": {"input": "$s", "to": "int", "onError": -1}}, doc) == -1
    assert tf.evaluate({"$concat": ["$s", "-", "$a.b"]}, doc) == "x-12"
    with pytest.raises(tf.ConversionError):
        tf.evaluate({"$toLong": "$s"}, doc)
    with pytest.raises(tf.ConversionError):
        tf.convert(2**40, "int")
    assert tf.input_fields({"$concat": ["$s", {"$literal": "$x"}, "$a.b"]}) == ["s", "a.b"]
    # int and long are one kind; 1 is not True
    assert tf.same_value(Int64(3), 3) and not tf.same_value(1, True)
