"""Quoting, literals and the duplicate-skipping INSERT of generated SQL, per dialect.

Why pinned here: these come from each database's `db.dialect.Dialect` (no name comparison in
plan/), and a resume point or a re-run batch is rendered with them, so a changed byte changes
what runs. The golden plans rarely hold a bytes, boolean or backslash key; these tests do."""

from __future__ import annotations

import pytest

from datamigration.plan.backfill import batch_sql
from datamigration.plan.model import BackfillSpec
from datamigration.plan.sqltext import literal, quote, row_literal


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        ("postgresql", ['"Order"', "TRUE", "FALSE", "'\\x00ff'::bytea", "'a\\b''c'"]),
        ("mysql", ["`Order`", "1", "0", "X'00ff'", "'a\\\\b''c'"]),
        ("sqlite", ['"Order"', "1", "0", "X'00ff'", "'a\\b''c'"]),
        ("no-such-dialect", ['"Order"', "1", "0", "X'00ff'", "'a\\b''c'"]),
    ],
)
def test_names_and_literals_are_rendered_the_way_each_dialect_reads_them(dialect, expected):
    rendered = [
        quote("Order", dialect),
        literal(True, dialect),
        literal(False, dialect),
        literal(b"\x00\xff", dialect),
        literal("a\\b'c", dialect),
    ]
    assert rendered == expected


def test_a_name_that_needs_no_quotes_stays_bare_and_a_quote_inside_one_is_doubled():
    assert quote("orders", "mysql") == "orders"
    assert quote("a`b", "mysql") == "`a``b`"
    assert quote('a"b', "postgresql") == '"a""b"'
    assert row_literal([1, None], "postgresql") == "(1, NULL)"


@pytest.mark.parametrize(
    ("dialect", "head", "tail"),
    [
        ("postgresql", 'INSERT INTO "New" (id, "Key")', ' ON CONFLICT ("Key", id) DO NOTHING'),
        ("mysql", "INSERT INTO `New` (id, `Key`)", " ON DUPLICATE KEY UPDATE `Key` = `New`.`Key`"),
        ("sqlite", 'INSERT OR IGNORE INTO "New" (id, "Key")', ""),
    ],
)
def test_an_insert_batch_skips_rows_already_copied_in_each_dialects_own_way(dialect, head, tail):
    spec = BackfillSpec(
        table="old",
        key_columns=("id",),
        dialect=dialect,
        mode="insert",
        target_table="New",
        insert_columns=("id", "Key"),
        select_expressions=("src.id", "src.k"),
        conflict_columns=("Key", "id"),
    )
    body = " SELECT src.id, src.k FROM old AS src WHERE src.id <= 5"
    assert batch_sql(spec, None, [5]) == head + body + tail


def test_an_insert_batch_without_conflict_columns_is_a_plain_insert():
    spec = BackfillSpec(
        table="old",
        key_columns=("id",),
        dialect="postgresql",
        mode="insert",
        target_table="new",
        insert_columns=("id",),
        select_expressions=("src.id",),
    )
    assert batch_sql(spec, None, None) == "INSERT INTO new (id) SELECT src.id FROM old AS src"
