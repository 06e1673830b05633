"""The MongoDB query path's allow-list of ``$`` keys (issue 10, item 8) against a wire server.

Every refusal is checked on the server afterwards: the same collections, the same documents,
no target collection of a ``$out`` / ``$merge`` created.
"""

from __future__ import annotations

import json
from typing import Any

import pymongo
import pytest

from datamigration.db import connect
from datamigration.db.mongodb.guard import ForbiddenOperatorError
from datamigration.errors import UserInputError

pytestmark = pytest.mark.integration


@pytest.fixture
def seeded(mongo_url: str):
    client = pymongo.MongoClient(mongo_url, serverSelectionTimeoutMS=5000)
    db = client.get_default_database()
    db.users.insert_many([{"_id": i, "name": f"u{i}", "city": "Oslo"} for i in range(5)])
    yield mongo_url, db
    client.drop_database(db.name)
    client.close()


def _snapshot(db: Any) -> dict[str, list]:
    return {name: list(db[name].find()) for name in sorted(db.list_collection_names())}


FACET_MERGE = {
    "aggregate": "users",
    "pipeline": [{"$facet": {"all": [{"$match": {}}, {"$merge": {"into": "pwned"}}]}}],
}

UNION_OUT = {"$unionWith": {"coll": "users", "pipeline": [{"$out": "pwned"}]}}
DEEP_OUT = {"$facet": {"a": [{"$lookup": {"from": "users", "as": "w", "pipeline": [UNION_OUT]}}]}}

ATTACKS: list[tuple[Any, str]] = [
    # the two examples
    ({"find": "users", "filter": {"$ref": "x", "$id": 1, "$where": "true"}}, "$ref"),
    (FACET_MERGE, "$merge"),
    # the DBRef shape anywhere, and $where in its other places
    ({"find": "users", "filter": {"owner": {"$ref": "x", "$id": 1, "$where": "true"}}}, "$ref"),
    ({"count": "users", "filter": {"$and": [{"$where": "sleep(100) || true"}]}}, "$where"),
    ({"find": "users", "filter": {"$id": 1}}, "$id"),
    # stages that write, at the top and nested in every sub-pipeline
    ({"aggregate": "users", "pipeline": [{"$out": "pwned"}]}, "$out"),
    ({"aggregate": "users", "pipeline": [{"$merge": "pwned"}]}, "$merge"),
    (
        {
            "aggregate": "users",
            "pipeline": [
                {"$lookup": {"from": "users", "as": "w", "pipeline": [{"$out": "pwned"}]}}
            ],
        },
        "$out",
    ),
    (
        {
            "aggregate": "users",
            "pipeline": [{"$unionWith": {"coll": "users", "pipeline": [{"$merge": "pwned"}]}}],
        },
        "$merge",
    ),
    ({"aggregate": "users", "pipeline": [DEEP_OUT]}, "$out"),
    # JavaScript in expressions and accumulators, and Extended JSON's $code
    ({"find": "users", "filter": {"$expr": {"$function": {"body": "1", "args": []}}}}, "$function"),
    (
        {"aggregate": "users", "pipeline": [{"$group": {"_id": 1, "a": {"$accumulator": {}}}}]},
        "$accumulator",
    ),
    ({"find": "users", "filter": {"name": {"$code": "function() { return 1 }"}}}, "$code"),
    # stages and operators the allow-list does not know
    ({"aggregate": "users", "pipeline": [{"$currentOp": {}}]}, "$currentOp"),
    ({"aggregate": "users", "pipeline": [{"$listSessions": {}}]}, "$listSessions"),
    ({"find": "users", "filter": {"name": {"$madeUp": 1}}}, "$madeUp"),
    ({"find": "users", "projection": {"$where": 1}}, "$where"),
]


@pytest.mark.parametrize(("query", "operator"), ATTACKS)
def test_refuses_a_key_off_the_allow_list_and_nothing_reaches_the_server(seeded, query, operator):
    url, db = seeded
    before = _snapshot(db)
    with connect(url) as backend:
        sent = backend.counter.count
        with pytest.raises(ForbiddenOperatorError) as err:
            backend.query(json.dumps(query))
        assert backend.counter.count == sent  # no driver call was made
    assert err.value.data["operator"] == operator and err.value.hint
    assert _snapshot(db) == before and "pwned" not in db.list_collection_names()


def test_refuses_a_key_written_twice_in_one_object(seeded):
    url, _ = seeded
    text = '{"find": "users", "filter": {"name": "u1", "name": {"$ne": null}}}'
    with connect(url) as backend, pytest.raises(UserInputError, match="twice"):
        backend.query(text)


def test_refuses_a_dbref_object_passed_already_decoded(seeded):
    from bson import DBRef

    url, _ = seeded
    with connect(url) as backend, pytest.raises(ForbiddenOperatorError):
        backend.query({"find": "users", "filter": {"o": DBRef("x", 1, **{"$where": "true"})}})


@pytest.mark.parametrize(
    "query",
    [
        {"find": "users", "filter": {"name": {"$exists": True, "$ne": "x"}}},
        {"find": "users", "filter": {"$and": [{"_id": {"$gte": 1}}, {"_id": {"$lt": 3}}]}},
        {"find": "users", "filter": {"$expr": {"$eq": [{"$toLower": "$city"}, "oslo"]}}},
        {"count": "users", "filter": {"_id": {"$in": [1, 2]}}},
        {
            "aggregate": "users",
            "pipeline": [
                {"$match": {"city": "Oslo"}},
                {"$group": {"_id": "$city", "n": {"$sum": 1}}},
                {"$project": {"n": 1, "_id": 0}},
            ],
        },
    ],
)
def test_still_runs_ordinary_reads(seeded, query):
    url, _ = seeded
    with connect(url) as backend:
        assert backend.query(json.dumps(query)).rows
