"""The copy engine into MongoDB with a document mapping (`copy --mapping`): PostgreSQL users
embedding their orders and addresses, partitioned and validated by the mapped diff; a run that
stops half way resumes without a duplicate."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pymongo
import pytest

from datamigration.cli import main
from datamigration.move import CopyRequest, run_copy
from datamigration.move.request import ConversionsRefusedError, CopyFailedError

pytestmark = pytest.mark.integration

DDL = """
CREATE TABLE users (
  id bigint PRIMARY KEY, email text NOT NULL CONSTRAINT users_email_key UNIQUE, name text,
  created_at timestamptz(3) NOT NULL, note text);
CREATE TABLE orders (
  id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users(id),
  total double precision NOT NULL, placed_at timestamp(3) NOT NULL, status text);
CREATE TABLE addresses (
  id int PRIMARY KEY, user_id bigint NOT NULL REFERENCES users(id), city text NOT NULL);
INSERT INTO users SELECT g, 'u' || g || '@x.io', CASE WHEN g % 3 = 0 THEN NULL ELSE 'n' || g END,
  timestamptz '2024-03-01 10:00:00.123+02' + g * interval '1 minute', NULL
  FROM generate_series(1, 120) g;
INSERT INTO orders SELECT g, 1 + g % 97, g * 2.25, timestamp '2024-01-01' + g * interval '1 hour',
  CASE WHEN g % 5 = 0 THEN NULL ELSE 'new' END FROM generate_series(1, 400) g;
INSERT INTO addresses SELECT g, 1 + g % 50, 'city ' || g FROM generate_series(1, 90) g;
"""

MAPPING = {
    "version": 1,
    "collections": [
        {
            "collection": "customers",
            "root": "users",
            "fields": {"created_at": {"name": "createdAt"}, "note": {"type": "date"}},
            "embed": [
                {"table": "orders", "kind": "array", "sort": [{"column": "placed_at"}]},
                {"table": "addresses", "kind": "array"},
            ],
        }
    ],
}


@pytest.fixture
def source(pg_url: str) -> str:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(DDL)
    return pg_url


@pytest.fixture
def db(mongo_url: str):
    with pymongo.MongoClient(mongo_url.rsplit("/", 1)[0]) as client:
        yield client[mongo_url.rsplit("/", 1)[1]]


def request(source: str, target: str, ws: Path, **kw) -> CopyRequest:
    kw.setdefault("partition_rows", 30)
    kw.setdefault("batch_size", 10)
    kw.setdefault("accept_conversions", True)  # orders.placed_at: wall clock stored as UTC
    return CopyRequest(source, target, ("users",), workspace=str(ws), mapping=MAPPING, **kw)


def counts(report: dict) -> dict[str, tuple[int, int, bool]]:
    return {
        v["table"]: (v["source_rows"], v["target_rows"], v["identical"])
        for v in report["validation"]
    }


def test_users_embedding_orders_and_addresses_copy_in_partitions_and_validate_clean(
    source, mongo_url, db, workspace_dir
):
    report = run_copy(request(source, mongo_url, workspace_dir, workers=2))
    assert report["passed"] and report["rejected"] == 0, report["validation"]
    assert counts(report) == {
        "users": (120, 120, True),
        "orders": (400, 400, True),
        "addresses": (90, 90, True),
    }
    assert report["partitions_run"] >= 4
    assert db.customers.count_documents({}) == 120
    assert "users" not in db.list_collection_names()
    doc = db.customers.find_one({"_id": 2})
    placed = [o["placed_at"] for o in doc["orders"]]
    assert placed == sorted(placed) and "createdAt" in doc and "user_id" not in doc["orders"][0]
    names = {i["name"] for i in db.customers.list_indexes()}
    unique = [i for i in db.customers.list_indexes() if i.get("unique") and i["name"] != "_id_"]
    assert [list(i["key"]) for i in unique] == [["email"]]
    assert len(names) == 4  # _id, email, orders.id, addresses.id
    assert "_datamigration_copy" not in db.list_collection_names()


def test_an_embedded_column_that_cannot_be_kept_exactly_stops_the_copy_before_writing(
    source, mongo_url, db, workspace_dir
):
    with pytest.raises(ConversionsRefusedError, match="orders.placed_at -> date"):
        run_copy(request(source, mongo_url, workspace_dir, accept_conversions=False))
    assert db.list_collection_names() == []


def test_a_copy_stopped_by_a_refused_row_resumes_without_duplicating_documents(
    source, mongo_url, db, workspace_dir
):
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("UPDATE users SET note = 'not a date' WHERE id = 85")
    with pytest.raises(CopyFailedError, match="users.note"):
        run_copy(request(source, mongo_url, workspace_dir, workers=1, strict=True))
    written = db.customers.count_documents({})
    assert 0 < written < 120
    assert db.customers.count_documents({"_id": {"$gt": 80, "$lt": 85}}) == 4  # same batch
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("UPDATE users SET note = NULL WHERE id = 85")
    report = run_copy(request(source, mongo_url, workspace_dir, workers=1, resume=True))
    assert report["passed"] and report["resumed"]
    assert counts(report)["users"] == (120, 120, True)
    assert counts(report)["orders"] == (400, 400, True)
    assert db.customers.count_documents({}) == 120


def test_a_changed_mapping_cannot_resume_the_run_it_did_not_make(
    source, mongo_url, db, workspace_dir
):
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("UPDATE users SET note = 'not a date' WHERE id = 85")
    with pytest.raises(CopyFailedError):
        run_copy(request(source, mongo_url, workspace_dir, workers=1, strict=True))
    changed = json.loads(json.dumps(MAPPING))
    changed["collections"][0]["fields"]["note"] = {"type": "string"}
    with pytest.raises(Exception, match="(?i)fingerprint|mapping|settings"):
        run_copy(
            CopyRequest(source, mongo_url, ("users",), workspace=str(workspace_dir),
                        mapping=changed, resume=True, partition_rows=30, batch_size=10,
                        accept_conversions=True)
        )  # fmt: skip


def test_the_copy_command_takes_a_mapping_file_and_a_mapping_naming_a_missing_column_stops_it(
    source, mongo_url, db, workspace_dir, capsys
):
    path = workspace_dir / "users.mapping.json"
    path.write_text(json.dumps(MAPPING))
    argv = ["--workspace", str(workspace_dir), "copy", source, mongo_url, "--tables", "users",
            "--mapping", "users.mapping.json", "--partition-rows", "50", "--quiet",
            "--accept-conversions"]  # fmt: skip
    assert main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert '"op": "create_collection"' in out and "users_email_key" in out
    assert db.list_collection_names() == []
    assert main([*argv, "--yes"]) == 0
    out = capsys.readouterr().out
    assert "orders: 400/400 rows, missing 0, extra 0, changed 0" in out
    bad = json.loads(json.dumps(MAPPING))
    bad["collections"][0]["embed"][0]["sort"] = [{"column": "placed"}]
    path.write_text(json.dumps(bad))
    assert main([*argv, "--yes", "--truncate"]) == 2
    err = capsys.readouterr().err
    assert "'placed'" in err and "placed_at" in err
    assert db.customers.count_documents({}) == 120  # nothing was touched


def test_a_mapped_copy_runs_the_same_in_worker_processes(source, mongo_url, db, workspace_dir):
    report = run_copy(request(source, mongo_url, workspace_dir, workers=2, pool="process"))
    assert report["passed"], report["validation"]
    assert counts(report)["orders"] == (400, 400, True)
    assert db.customers.count_documents({}) == 120


def test_a_row_whose_value_cannot_be_stored_is_set_aside_and_the_rest_copied(
    source, mongo_url, db, workspace_dir
):
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("UPDATE users SET note = 'not a date' WHERE id = 85")
    report = run_copy(request(source, mongo_url, workspace_dir, workers=2))
    assert report["rejected"] == 1
    (reject,) = report["rejects"]
    assert reject["key"] == [85] and "users.note" in reject["error"]
    assert db.customers.count_documents({}) == 119
    users = next(v for v in report["validation"] if v["table"] == "users")
    assert users["missing"] == [85] and not report["passed"]


OTHER_MAPPING = {
    "collections": [
        {
            "collection": "users",
            "root": "users",
            "fields": {"balance": {"type": "string"}},  # nx-27017 stores no Decimal128
            "embed": [
                {"table": "orders", "kind": "array", "fields": {"amount": {"type": "string"}},
                 "sort": [{"column": "id", "order": "desc"}], "limit": 2},
                {"table": "orders", "kind": "array", "as": "all_orders",
                 "fields": {"amount": {"type": "string"}}},
            ],
        }
    ]
}  # fmt: skip


@pytest.mark.parametrize("engine", ["sqlite", "mariadb"])
def test_sqlite_and_mariadb_sources_fill_mapped_documents_with_limited_sorted_arrays(
    engine, mongo_url, db, workspace_dir, request
):
    from support import movedata

    if engine == "sqlite":
        path = workspace_dir / "app.db"
        movedata.seed_sqlite(path, users=80, orders=200)
        source = f"sqlite:///{path}"
    else:
        source = request.getfixturevalue("mysql_url")
        movedata.seed_mysql(source, users=80, orders=200)
    report = run_copy(
        CopyRequest(source, mongo_url, ("users",), workspace=str(workspace_dir),
                    mapping=OTHER_MAPPING, accept_conversions=True, partition_rows=25,
                    batch_size=10)
    )  # fmt: skip
    assert report["passed"], report["validation"]
    assert {v["table"]: v["target_rows"] for v in report["validation"]} == {
        "users": 80, "orders": 200,
    }  # fmt: skip
    doc = db.users.find_one({"_id": 2})  # orders 1, 81, 161 belong to user 2
    assert [o["id"] for o in doc["orders"]] == [161, 81]
    assert [o["id"] for o in doc["all_orders"]] == [1, 81, 161]
    assert float(doc["all_orders"][0]["amount"]) == 0.1  # SQLite keeps NUMERIC as REAL
