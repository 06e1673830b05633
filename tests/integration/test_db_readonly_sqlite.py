"""The SQLite read-only query path against huge values, runaway statements and functions off
the allow-list (issue 10, item 7 and the SQLite half of the read-only guard): every refusal
leaves the file byte-for-byte as it was and nothing new beside it; answers are capped."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from datamigration.db import connect
from datamigration.db.errors import QueryTimeoutError, ResultTooLargeError
from datamigration.db.readonly import MAX_VALUE_BYTES
from datamigration.errors import ReadOnlyViolationError
from support.querycheck import peak_rss_kb

pytestmark = pytest.mark.integration


@pytest.fixture
def lite_db(sqlite_url: str) -> str:
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"value {i}") for i in range(1, 51)])
    return sqlite_url


def _state(url: str) -> tuple[str, list[str]]:
    path = Path(url.removeprefix("sqlite:///"))
    return hashlib.sha256(path.read_bytes()).hexdigest(), sorted(os.listdir(path.parent))


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT randomblob(900000000)",
        "SELECT hex(randomblob(900000000))",
        "SELECT length(hex(randomblob(10000000)))",
        "SELECT zeroblob(900000000)",
        "SELECT replace(hex(zeroblob(10000000)), '0', 'ab')",
        (
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 100000) "
            "SELECT group_concat(hex(randomblob(1000))) FROM r"
        ),
    ],
)
def test_refuses_a_value_over_the_length_limit_quickly_and_changes_nothing(lite_db, sql):
    before = _state(lite_db)
    with connect(lite_db) as db, pytest.raises(ResultTooLargeError) as info:
        db.query(sql, timeout_ms=20_000)
    assert info.value.hint and "substr" in info.value.hint
    assert _state(lite_db) == before


def test_a_runaway_statement_stops_at_the_timeout(lite_db):
    with connect(lite_db) as db, pytest.raises(QueryTimeoutError):
        db.query(
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
            "SELECT max(length(randomblob(1000))) FROM r",
            timeout_ms=200,
        )


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT load_extension('/tmp/x')",
        "SELECT readfile('/etc/passwd')",
        "SELECT writefile('{marker}', 'x')",
        "SELECT fts3_tokenizer('simple')",
        "SELECT sqlite_log(1, 'x')",
        "SELECT my_app_function(1)",
        "SELECT * FROM t WHERE my_app_function(id) = 1",
        "PRAGMA query_only = 0",
        "PRAGMA writable_schema = 1",
        "SELECT * FROM pragma_table_info('t')",
        "ATTACH DATABASE '{marker}' AS x",
    ],
)
def test_refuses_functions_and_pragmas_off_the_allow_list(lite_db, sql):
    marker = Path(lite_db.removeprefix("sqlite:///")).parent / "other.db"
    before = _state(lite_db)
    with connect(lite_db) as db:
        # What an application or the sqlite3 shell registers: the authorizer must deny them.
        reader = db._read_conn()
        reader.create_function("my_app_function", 1, lambda x: x)
        reader.create_function("readfile", 1, lambda p: Path(p).read_bytes())
        reader.create_function("writefile", 2, lambda p, d: Path(p).write_text(d))
        with pytest.raises(ReadOnlyViolationError):
            db.query(sql.format(marker=marker))
    assert _state(lite_db) == before


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT json_extract('{\"a\": 1}', '$.a'), '{\"a\": 2}' ->> 'a', printf('%05d', 7)",
        "SELECT date('now') IS NOT NULL, abs(-1), coalesce(NULL, 1), iif(1, 'y', 'n')",
        "SELECT group_concat(v, ',') FROM t",
        "SELECT length(hex(randomblob(1000)))",
    ],
)
def test_still_runs_plain_read_queries(lite_db, sql):
    with connect(lite_db) as db:
        assert db.query(sql).rows


def test_a_long_value_under_the_limit_is_cut_in_the_answer(lite_db):
    with connect(lite_db) as db:
        result = db.query("SELECT hex(zeroblob(2000000)) AS big, 'small'")
    assert len(result.rows[0][0]) < MAX_VALUE_BYTES + 100 and "4000000 bytes" in result.rows[0][0]
    assert result.rows[0][1] == "small" and result.truncated and result.warnings


def test_peak_memory_stays_flat_for_the_issues_randomblob(lite_db):
    before, after, outcome = peak_rss_kb(lite_db, "SELECT hex(randomblob(900000000))")
    assert outcome == "ResultTooLargeError"
    assert after - before < 50_000, (before, after)  # KiB; unbounded it took 1.79 GB
