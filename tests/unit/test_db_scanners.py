"""The small parsers around the databases: the MySQL pre-send guard, SQLite DDL scanning, type
modifiers, jsonable values."""

from __future__ import annotations

import datetime
import decimal
import uuid

import pytest

from datamigration.db.contracts import jsonable
from datamigration.db.postgres.introspect import _check_expression, _modifiers, _trigger
from datamigration.db.readonly import mysql_guard
from datamigration.db.sqlite.introspect import _body, _paren_after, _split_top, _sqlite_type


@pytest.mark.parametrize(
    ("sql", "refused"),
    [
        ("SELECT 1", False),
        ("  /* c */ WITH a AS (SELECT 1) SELECT * FROM a", False),
        ("(SELECT 1) UNION (SELECT 2)", False),
        ("SHOW TABLES", False),
        ("SELECT 'INTO OUTFILE' AS `into`", False),
        ("KILL 42", True),
        ("/* SELECT */ KILL QUERY 42", True),
        ("SELECT * FROM t INTO OUTFILE '/tmp/x'", True),
        ("SELECT 1 INTO @v", True),
        ("DELETE FROM t", True),
    ],
)
def test_the_mysql_guard_refuses_what_escapes_a_read_only_transaction(sql, refused):
    assert (mysql_guard(sql) is not None) is refused


def test_sqlite_ddl_is_split_at_top_level_commas_outside_quotes_and_comments():
    ddl = """CREATE TABLE "t,x" (a INT CHECK (a IN (1, 2)), -- comment, here
      b TEXT DEFAULT 'x,y', "c)" INT, CONSTRAINT k CHECK (b <> ')'))"""
    parts = _split_top(_body(ddl))
    assert len(parts) == 4
    assert parts[0].startswith("a INT CHECK")
    assert _paren_after(parts[3], "CHECK") == [(parts[3].upper().index("CHECK"), "b <> ')'")]


@pytest.mark.parametrize(
    ("decl", "expected"),
    [
        ("VARCHAR(20)", ("varchar", 20, None, None)),
        ("DECIMAL(10, 2)", ("decimal", None, 10, 2)),
        ("NUMERIC(8)", ("numeric", None, 8, 0)),
        ("INTEGER", ("integer", None, None, None)),
        ("", ("", None, None, None)),
    ],
)
def test_sqlite_declared_types_are_split_into_name_and_modifiers(decl, expected):
    assert _sqlite_type(decl) == expected


def test_postgres_type_modifiers_decode_length_precision_and_scale():
    assert _modifiers("varchar", 204) == (200, None, None)
    assert _modifiers("numeric", ((12 << 16) | 2) + 4) == (None, 12, 2)
    assert _modifiers("timestamptz", 3) == (None, 3, None)
    assert _modifiers("int4", -1) == (None, None, None)


def test_postgres_check_and_trigger_catalog_values_are_normalised():
    assert _check_expression("CHECK ((price > 0)) NOT VALID") == "(price > 0)"
    trig = _trigger("t", 1 | 2 | 4 | 16, "public.f", "O", "CREATE TRIGGER ...")
    assert (trig.timing, trig.events, trig.level, trig.enabled) == (
        "BEFORE",
        ("INSERT", "UPDATE"),
        "ROW",
        True,
    )


def test_database_values_become_json_without_losing_meaning():
    assert jsonable(decimal.Decimal("1.10")) == "1.10"
    assert jsonable(datetime.date(2024, 2, 29)) == "2024-02-29"
    assert jsonable(float("inf")) == "inf"
    assert jsonable(b"\x00\xff") == {"$binary_hex": "00ff", "length": 2}
    u = uuid.uuid4()
    assert jsonable({"k": [u]}) == {"k": [str(u)]}
