"""The MySQL/MariaDB query guard decides on sqlglot's parse, without a server: every part of a
statement must be on an allow-list, and the answer caps cut long values and mark them."""

from __future__ import annotations

import pytest

from datamigration.db.mysql.guard import mysql_guard
from datamigration.db.readonly import CUT_MARK, capped_value


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("SELECT * FROM t /*!INTO OUTFILE '/tmp/pwned.txt' */", "executable comments"),
        ("SELECT 1 /*!50000 + 1 */", "executable comments"),
        ("SELECT 1 /*M!100000 + 1 */", "executable comments"),
        ("SELECT /*+ MAX_EXECUTION_TIME(0) */ 1", "optimizer hints"),
        ("SELECT '/*!' AS s", "even inside a string"),
        ("SELECT LOAD_FILE('/etc/passwd') IS NOT NULL", "LOAD_FILE()"),
        ("SELECT Sleep (1)", "SLEEP()"),
        ("SELECT MASTER_POS_WAIT('f', 4)", "MASTER_POS_WAIT()"),
        ("SELECT `upper`('a')", "stored or user-defined"),
        ("SELECT app.f(1)", "stored or user-defined"),
        ("SELECT 1 INTO @a", "INTO"),
        ("SELECT * FROM t FOR UPDATE", "locking reads"),
        ("EXPLAIN ANALYZE SELECT 1", "runs the statement"),
        ("EXPLAIN DELETE FROM t", "not a query"),
        ("KILL 1", "not a query"),
        ("SELECT 1; SELECT 2", "several statements"),
        ("DO 1", "does not parse"),
        ("", "empty"),
    ],
)
def test_refuses_what_is_off_the_allow_list_and_says_why(sql, why):
    assert why in (mysql_guard(sql) or "")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT DISTINCT PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY id) OVER () FROM t",
        "WITH x (a) AS (SELECT 1) SELECT a FROM x",
        "SELECT CAST(1 AS CHAR), CONVERT('a' USING latin1), CHAR(65 USING utf8mb4)",
        "SELECT DATE_ADD(NOW(), INTERVAL 1 DAY), EXTRACT(YEAR FROM NOW()), TRIM(LEADING 'x' FROM v)",
        "SELECT id FROM t USE INDEX (PRIMARY) WHERE id IN (1) AND EXISTS (SELECT 1 FROM u)",
        "SELECT GROUP_CONCAT(v ORDER BY v SEPARATOR ',') FROM t",
        "SELECT doc->>'$.a', JSON_EXTRACT(doc, '$.b') FROM t",
        "SHOW TABLE STATUS",
        "SHOW CREATE TABLE t",
        "DESCRIBE t",
        "EXPLAIN FORMAT=JSON SELECT 1",
        "SELECT 1 UNION SELECT 2",
        "SELECT 'into' AS `into`, '/*' AS c -- a comment",
    ],
)
def test_lets_ordinary_read_queries_through(sql):
    assert mysql_guard(sql) is None


def test_a_long_text_is_cut_to_the_cap_and_says_its_whole_size():
    value, cut = capped_value("é" * 10_000, max_value_bytes=1_000)
    assert cut and value.startswith("é" * 500) and value.endswith(f"{CUT_MARK}20000 bytes]")
    assert capped_value("short", max_value_bytes=1_000) == ("short", False)
    nested, cut = capped_value({"a": "x" * 5_000}, max_value_bytes=1_000)
    assert cut and isinstance(nested, str) and nested.startswith('{"a": "xxx')
