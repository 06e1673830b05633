"""The MongoDB read-only query language: three shapes, and refusals at any depth."""

from __future__ import annotations

import pytest
from bson import ObjectId

from datamigration.db.errors import QueryRefusedError
from datamigration.db.mongodb.guard import ForbiddenOperatorError, parse_query
from datamigration.errors import UserInputError


def test_a_find_query_is_parsed_with_its_options():
    q = parse_query('{"find": "users", "filter": {"age": {"$gt": 3}}, "projection": {"a": 1},'
                    ' "sort": {"age": -1}, "limit": 10, "skip": 2, "maxTimeMS": 500}')  # fmt: skip
    assert (q.kind, q.collection, q.limit, q.skip, q.max_time_ms) == ("find", "users", 10, 2, 500)
    assert q.filter == {"age": {"$gt": 3}} and q.sort == (("age", -1),)


def test_extended_json_values_are_understood():
    q = parse_query('{"find": "users", "filter": {"_id": {"$oid": "65f000000000000000000001"}}}')
    assert q.filter["_id"] == ObjectId("65f000000000000000000001")


def test_count_accepts_filter_or_query():
    assert parse_query('{"count": "users", "query": {"a": 1}}').filter == {"a": 1}
    assert parse_query('{"count": "users"}').filter == {}


def test_aggregate_needs_a_list_of_stages():
    q = parse_query('{"aggregate": "users", "pipeline": [{"$match": {}}]}')
    assert q.pipeline == ({"$match": {}},)
    with pytest.raises(UserInputError):
        parse_query('{"aggregate": "users", "pipeline": {"$match": {}}}')


@pytest.mark.parametrize(
    ("query", "operator"),
    [
        ({"aggregate": "u", "pipeline": [{"$out": "x"}]}, "$out"),
        ({"aggregate": "u", "pipeline": [{"$merge": {"into": "x"}}]}, "$merge"),
        (
            {
                "aggregate": "u",
                "pipeline": [
                    {
                        "$lookup": {
                            "from": "v",
                            "as": "w",
                            "pipeline": [{"$facet": {"f": [{"$out": "x"}]}}],
                        }
                    }
                ],
            },
            "$out",
        ),
        (
            {
                "aggregate": "u",
                "pipeline": [{"$unionWith": {"coll": "v", "pipeline": [{"$merge": "x"}]}}],
            },
            "$merge",
        ),
        ({"find": "u", "filter": {"$where": "sleep(1000)"}}, "$where"),
        ({"find": "u", "filter": {"$or": [{"$expr": {"$function": {}}}]}}, "$function"),
        (
            {"aggregate": "u", "pipeline": [{"$group": {"_id": 1, "a": {"$accumulator": {}}}}]},
            "$accumulator",
        ),
        ({"count": "u", "filter": {"$where": "true"}}, "$where"),
    ],
)
def test_write_stages_and_javascript_are_refused_at_any_depth(query, operator):
    with pytest.raises(ForbiddenOperatorError) as err:
        parse_query(query)
    assert isinstance(err.value, QueryRefusedError)
    assert err.value.data["operator"] == operator and operator in str(err.value)
    assert err.value.hint


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2]",
        '{"insert": "users", "documents": []}',
        '{"find": "users", "count": "users"}',
        '{"find": "users", "update": {}}',
        '{"find": ""}',
        '{"find": "system.users"}',
        '{"find": "users", "limit": -1}',
        '{"find": "users", "limit": true}',
        '{"find": "users", "sort": {"a": 2}}',
        '{"find": "users", "filter": [1]}',
    ],
)
def test_malformed_or_non_read_queries_are_refused_with_an_example(text):
    with pytest.raises(UserInputError) as err:
        parse_query(text)
    assert '{"find": "users"' in err.value.hint
