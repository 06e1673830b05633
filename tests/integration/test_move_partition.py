"""The partition worker on its own (what a process pool or a Dask worker runs): a pure function
of (request, partition) that opens its own connections; run again as a retry it replaces
instead of duplicating, on a SQL target and on MongoDB (one document per row, `_id` from the
primary key). Also: the same copy through a process pool gives the same target."""

from __future__ import annotations

import pickle
from pathlib import Path

import psycopg
import pymongo
import pytest

from datamigration.db.base import connect
from datamigration.move import CopyRequest, copy_partition, run_copy
from datamigration.move.partitions import Partition, retried
from support import movedata

pytestmark = pytest.mark.integration

PEOPLE = (
    "CREATE TABLE people (id int PRIMARY KEY, name text NOT NULL, score double precision, "
    "active boolean NOT NULL DEFAULT true, CONSTRAINT people_name_key UNIQUE (name));"
    "INSERT INTO people SELECT g, 'p' || g, g / 3.0, g % 2 = 0 FROM generate_series(1, 250) g"
)


def _people(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(PEOPLE)


def _partition(lo, hi, attempts: int = 0) -> Partition:
    return Partition("copy-test", "people", 0, lo, hi, ("id",), ("id", "name", "score", "active"),
                     ("integer", "text", "double precision", "boolean"), attempts=attempts)  # fmt: skip


def _prepare(src: str, dst: str, ws: Path) -> CopyRequest:
    """Create the target table and the state table as the runner would."""
    from datamigration.move.runner import plan_tables

    request = CopyRequest(src, dst, ("people",), workspace=str(ws), batch_size=40)
    with connect(src) as s, connect(dst) as d:
        (plan,), _ = plan_tables(s, d, request)
        d.create_target(plan.target)
        d.copy_state_table(request.state_table).ensure()
    return request


def test_a_partition_is_picklable_and_a_retry_replaces_its_rows_on_postgres(
    make_pg_url, workspace_dir: Path
) -> None:
    src, dst = make_pg_url(), make_pg_url()
    _people(src)
    request = _prepare(src, dst, workspace_dir)
    part = pickle.loads(pickle.dumps(_partition((100,), (200,))))
    first = copy_partition(pickle.loads(pickle.dumps(request)), part)
    assert (first.rows, first.rejected) == (100, 0)
    again = copy_partition(request, retried(part))
    assert again.rows == 100 and again.rejected == 0
    assert movedata.pg_scalar(dst, "SELECT count(*) FROM people") == 100
    assert movedata.pg_scalar(dst, "SELECT min(id) || '-' || max(id) FROM people") == "101-200"
    state = movedata.pg_scalar(
        dst, "SELECT status || ':' || rows || ':' || attempts FROM _datamigration_copy"
    )
    assert state == "done:100:2"


def test_a_mongodb_target_gets_one_document_per_row_and_a_retry_replaces_them(
    pg_url: str, mongo_url: str, workspace_dir: Path
) -> None:
    _people(pg_url)
    request = _prepare(pg_url, mongo_url, workspace_dir)
    copy_partition(request, _partition(None, (120,)))
    copy_partition(request, retried(_partition(None, (120,))))
    db = pymongo.MongoClient(mongo_url).get_default_database()
    assert db.people.count_documents({}) == 120
    doc = db.people.find_one({"_id": 7})
    assert doc == {"_id": 7, "id": 7, "name": "p7", "score": 7 / 3.0, "active": False}
    assert db["_datamigration_copy"].find_one({"part": 0})["status"] == "done"


def test_a_whole_copy_into_mongodb_builds_the_unique_index_and_validates(
    pg_url: str, mongo_url: str, workspace_dir: Path
) -> None:
    _people(pg_url)
    report = run_copy(CopyRequest(pg_url, mongo_url, ("people",), workspace=str(workspace_dir),
                                  partition_rows=100))  # fmt: skip
    assert report["passed"], report["validation"]
    db = pymongo.MongoClient(mongo_url).get_default_database()
    assert db.people.count_documents({}) == 250
    # (the test server names indexes its own way; a real MongoDB keeps people_name_key)
    indexes = {tuple(i["key"]): i.get("unique") for i in db.people.list_indexes()}
    assert indexes[("name",)] is True
    assert "_datamigration_copy" not in db.list_collection_names()


def test_a_process_pool_copy_gives_the_same_target_as_the_thread_pool(
    make_pg_url, workspace_dir: Path
) -> None:
    src, a, b = make_pg_url(), make_pg_url(), make_pg_url()
    movedata.seed_postgres(src)
    base = CopyRequest(src, a, ("users", "orders"), workspace=str(workspace_dir),
                       partition_rows=300, workers=2)  # fmt: skip
    assert run_copy(base)["passed"]
    assert run_copy(base.with_(target=b, pool="process"))["passed"]
    digest = "SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o"
    assert movedata.pg_scalar(a, digest) == movedata.pg_scalar(b, digest)


@pytest.mark.parametrize("key", [("id",), ("grp", "id")])
def test_sqlite_key_boundaries_step_along_the_key_and_match_the_numbered_rows(
    sqlite_url: str, key: tuple[str, ...]
) -> None:
    from datamigration.db.bulk import SQLBulk

    with connect(sqlite_url) as b:
        create = "CREATE TABLE t (grp INTEGER NOT NULL, id INTEGER NOT NULL, v TEXT, "
        numbers = "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 1000) "
        b.execute(
            [
                create + "PRIMARY KEY (grp, id))",
                numbers + "INSERT INTO t SELECT n % 7, n, 'v' || n FROM g",
            ]
        )
        for every in (1, 150, 250, 999, 1000, 1001):
            stepped = b.key_boundaries("t", key, every)
            assert stepped == SQLBulk.key_boundaries(b, "t", key, every)
            assert len(stepped) == 1000 // every


def test_sqlite_reads_a_range_as_the_generic_keyset_pages_do(sqlite_url: str) -> None:
    from datamigration.db.bulk import SQLBulk

    with connect(sqlite_url) as b:
        create = "CREATE TABLE t (v TEXT, grp INTEGER NOT NULL, id INTEGER NOT NULL, "
        numbers = "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 500) "
        b.execute(
            [
                create + "PRIMARY KEY (grp, id))",
                numbers + "INSERT INTO t SELECT 'v' || n, n % 3, n FROM g",
            ]
        )
        cols, key = ("v", "grp", "id"), ("grp", "id")
        for lo, hi in ((None, None), ((0, 30), (2, 101)), ((1, 499), None), (None, (0, 3))):
            mine = list(b.read_range("t", cols, key, lo, hi, 70))
            assert mine == list(SQLBulk.read_range(b, "t", cols, key, lo, hi, 70))
            assert all(isinstance(r, tuple) for page in mine for r in page)
        # the key not among the columns read: the generic pages
        assert list(b.read_range("t", ("v",), key, None, (0, 9), 2)) == [
            [("v3",), ("v6",)],
            [("v9",)],
        ]
