"""MongoDB as the copy source: a collection into PostgreSQL (typed columns for the dominant
scalar types, JSON for documents, arrays and mixed fields) and into MongoDB."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pymongo
import pytest
from bson import ObjectId

from datamigration.move import CopyRequest, run_copy
from datamigration.move.request import CopyFailedError

pytestmark = pytest.mark.integration

N = 300


def _seed(url: str, n: int = N) -> list[ObjectId]:
    client = pymongo.MongoClient(url)
    try:
        db = client.get_default_database()
        ids = [ObjectId() for _ in range(n)]
        docs = []
        for i, oid in enumerate(ids):
            doc = {
                "_id": oid,
                "n": i,
                "name": f"user {i}",
                "joined": dt.datetime(2024, 1, 1) + dt.timedelta(minutes=i),
                "address": {"city": f"c{i % 7}", "zip": i},
                "tags": [f"t{i % 3}", i],
                "mixed": i if i % 2 else f"s{i}",
            }
            if i % 10 == 0:
                del doc["name"]
            docs.append(doc)
        db.people.insert_many(docs)
        db.people.create_index([("n", 1)], unique=True, name="people_n")
        db.people.create_index([("name", 1), ("joined", -1)], name="people_name_joined")
        db.people.create_index([("address.city", 1)], name="people_city")
        return ids
    finally:
        client.close()


def _req(src: str, dst: str, ws: Path, **kw) -> CopyRequest:
    return CopyRequest(src, dst, ("people",), workspace=str(ws), **kw)


def test_a_dry_run_of_a_collection_into_postgresql_lists_its_conversions(
    mongo_url, pg_url, workspace_dir: Path
) -> None:
    _seed(mongo_url)
    plan = run_copy(_req(mongo_url, pg_url, workspace_dir, dry_run=True))
    table = plan["tables"][0]
    types = {c["name"]: c["type"] for c in table["columns"]}
    assert table["key"] == ["_id"]
    assert (
        types["n"] == "integer" and types["_id"] == "character(24)" and types["address"] == "jsonb"
    )
    by_column = {c["column"]: c for c in plan["conversions"]}
    assert by_column["mixed"]["blocking"] is True and by_column["address"]["blocking"] is False
    assert by_column["mixed"]["source"] == "mixed (int, string)"
    assert by_column["tags"]["target"] == "jsonb"
    assert by_column["address.city"]["target"] == "not created"
    assert {"address", "tags", "mixed"} <= set(by_column)


def test_a_collection_copies_into_postgresql_with_an_empty_diff_once_accepted(
    mongo_url, pg_url, workspace_dir: Path
) -> None:
    _seed(mongo_url)
    report = run_copy(_req(mongo_url, pg_url, workspace_dir, accept_conversions=True,
                           partition_rows=70, batch_size=25))  # fmt: skip
    assert report["passed"], [
        {k: v for k, v in x.items() if k in ("changed", "changed_count")}
        for x in report["validation"]
    ]
    assert report["validation"][0]["not_compared"] == ["mixed: mixed BSON types stored as JSON"]
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM people").fetchone()[0] == N
        row = conn.execute("SELECT n, address->>'city', tags FROM people WHERE n = 8").fetchone()
    assert row == (8, "c1", ["t2", 8])
    with psycopg.connect(pg_url) as conn:
        indexes = [d for (d,) in conn.execute("SELECT indexdef FROM pg_indexes "
                                              "WHERE tablename = 'people'")]  # fmt: skip
    assert any("UNIQUE" in d and "(n)" in d for d in indexes)
    assert any("(name, joined)" in d for d in indexes) and len(indexes) == 3


def _set_name(url: str, n: int, name: str) -> None:
    client = pymongo.MongoClient(url)
    try:
        client.get_default_database().people.update_one({"n": n}, {"$set": {"name": name}})
    finally:
        client.close()


def _pg_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM people").fetchone()[0]


def test_a_document_postgresql_refuses_goes_to_the_rejects_and_the_diff_shows_it(
    mongo_url, pg_url, workspace_dir: Path
) -> None:
    _seed(mongo_url)
    _set_name(mongo_url, 201, "nul \x00 inside")
    report = run_copy(_req(mongo_url, pg_url, workspace_dir, accept_conversions=True,
                           partition_rows=70))  # fmt: skip
    assert report["rejected"] == 1 and not report["passed"]
    assert _pg_count(pg_url) == N - 1


def test_a_strict_copy_stopped_by_a_failed_partition_resumes_to_an_exact_copy(
    mongo_url, pg_url, workspace_dir: Path
) -> None:
    _seed(mongo_url)
    _set_name(mongo_url, 201, "nul \x00 inside")
    kw = {"accept_conversions": True, "partition_rows": 70, "workers": 1, "strict": True}
    with pytest.raises(CopyFailedError):
        run_copy(_req(mongo_url, pg_url, workspace_dir, **kw))
    assert 0 < _pg_count(pg_url) < N
    _set_name(mongo_url, 201, "fixed")
    report = run_copy(_req(mongo_url, pg_url, workspace_dir, resume=True, **kw))
    assert report["passed"], report["validation"]
    assert _pg_count(pg_url) == N


def test_a_collection_copies_into_another_mongodb_database_with_an_empty_diff(
    mongo_url, workspace_dir: Path
) -> None:
    _seed(mongo_url)
    target = mongo_url + "_copy"
    report = run_copy(_req(mongo_url, target, workspace_dir, partition_rows=70, batch_size=25,
                           pool="process", workers=2))  # fmt: skip
    assert report["passed"], report["validation"]
    client = pymongo.MongoClient(target)
    try:
        db = client.get_default_database()
        assert db.people.count_documents({}) == N
        doc = db.people.find_one({"n": 8})
        keys = {tuple(ix["key"].items()): bool(ix.get("unique")) for ix in db.people.list_indexes()}
    finally:
        client.close()
    assert doc["address"] == {"city": "c1", "zip": 8} and doc["mixed"] == "s8"
    assert keys[(("n", 1),)] is True  # (the wire server keeps neither names nor -1)
    assert {k[0][0] for k in keys} == {"_id", "n", "name", "address.city"}


def test_a_collection_copies_into_sqlite_with_json_text_and_an_empty_diff(
    mongo_url, sqlite_url, workspace_dir: Path
) -> None:
    _seed(mongo_url, 120)
    report = run_copy(_req(mongo_url, sqlite_url, workspace_dir, accept_conversions=True,
                           partition_rows=50))  # fmt: skip
    assert report["passed"], report["validation"]
    assert report["rows_copied"] == 120


def test_a_collection_copies_into_mysql_once_the_datetime_conversion_is_accepted(
    mongo_url, mysql_url, workspace_dir: Path
) -> None:
    _seed(mongo_url, 120)
    plan = run_copy(_req(mongo_url, mysql_url, workspace_dir, dry_run=True))
    blocking = {c["column"] for c in plan["conversions"] if c["blocking"]}
    assert blocking == {"joined", "mixed"}
    dropped = {c["column"] for c in plan["conversions"] if c["target"] == "not created"}
    assert dropped == {"name,joined", "address.city"}
    report = run_copy(_req(mongo_url, mysql_url, workspace_dir, accept_conversions=True,
                           partition_rows=50))  # fmt: skip
    assert report["passed"], report["validation"]
    assert report["rows_copied"] == 120
    assert "mixed: mixed BSON types stored as JSON" in report["validation"][0]["not_compared"]


def test_a_resumed_copy_keeps_the_columns_it_started_with_when_new_fields_appear(
    mongo_url, pg_url, workspace_dir: Path
) -> None:
    _seed(mongo_url)
    _set_name(mongo_url, 201, "nul \x00 inside")
    kw = {"accept_conversions": True, "partition_rows": 70, "workers": 1}
    with pytest.raises(CopyFailedError):
        run_copy(_req(mongo_url, pg_url, workspace_dir, strict=True, **kw))
    _set_name(mongo_url, 201, "fixed")
    client = pymongo.MongoClient(mongo_url)
    try:
        client.get_default_database().people.insert_one({"n": N, "late": True})
    finally:
        client.close()
    report = run_copy(_req(mongo_url, pg_url, workspace_dir, resume=True, **kw))
    assert report["rejected"] == 1 and report["rejects"][0]["error"].startswith("field(s) late")
    assert report["validation"][0]["missing_count"] == 1 and _pg_count(pg_url) == N


def test_integer_ids_become_a_bigint_key_cut_into_several_partitions(
    mongo_url, pg_url, workspace_dir: Path
) -> None:
    client = pymongo.MongoClient(mongo_url)
    try:
        client.get_default_database().items.insert_many(
            [{"_id": i * 3, "label": f"item {i}"} for i in range(150)]
        )
    finally:
        client.close()
    req = CopyRequest(mongo_url, pg_url, ("items",), workspace=str(workspace_dir),
                      partition_rows=40)  # fmt: skip
    plan = run_copy(req.with_(dry_run=True))
    assert plan["tables"][0]["columns"][0]["type"] == "bigint"
    his = [p["hi"] for p in plan["tables"][0]["partitions"]]
    assert len(his) == 4 and his[-1] is None and his[:3] == sorted(his[:3])
    report = run_copy(req)
    assert report["passed"], report["validation"]
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT max(_id), count(*) FROM items").fetchone() == (447, 150)
