"""The SQL side of `--trace`: which relations a statement names, what is never run on a
scratch copy, and how schema-qualified names are pointed at the copy."""

from __future__ import annotations

import pytest

from datamigration.lint.trace.sql import deparse, plan_statement


def _names(text: str) -> list[tuple[str | None, str]]:
    return [(r.schema, r.name) for r in plan_statement(0, text).refs]


def test_plan_finds_the_table_and_the_foreign_key_target():
    assert _names(
        "ALTER TABLE public.orders ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES customers (id)"
    ) == [("public", "orders"), (None, "customers")]


def test_plan_finds_relations_named_by_drop_and_comment():
    assert _names("DROP INDEX public.i1, i2") == [("public", "i1"), (None, "i2")]
    assert _names("COMMENT ON COLUMN app.t.c IS 'x'") == [("app", "t")]


def test_qualified_names_are_pointed_at_the_scratch_schema_in_the_parse_tree():
    plan = plan_statement(
        0,
        "ALTER TABLE public.orders ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES public.customers"
        " (id); ",
    )
    for ref in plan.refs:
        ref.set_schema("dm_trace_x_0")
    text = deparse(plan)
    assert "dm_trace_x_0.orders" in text and "dm_trace_x_0.customers" in text
    assert "public" not in text


def test_a_drop_list_is_rewritten_item_by_item():
    plan = plan_statement(0, "DROP TABLE public.a, b")
    for ref in plan.refs:
        ref.set_schema("s")
    assert deparse(plan) == "DROP TABLE s.a, s.b"


def test_a_column_comment_keeps_its_column_when_rewritten():
    plan = plan_statement(0, "COMMENT ON COLUMN t.c IS 'x'")
    plan.refs[0].set_schema("s")
    assert deparse(plan) == "COMMENT ON COLUMN s.t.c IS 'x'"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("CREATE INDEX CONCURRENTLY i ON t (a)", "transaction block"),
        ("DROP INDEX CONCURRENTLY i", "transaction block"),
        ("BEGIN", "transaction control"),
        ("SET search_path TO app", "session setting"),
        ("SET lock_timeout = '5s'", "session setting"),
        ("RESET ALL", "session setting"),
        ("SET ROLE admin", "session setting"),
        ("DROP TYPE mood CASCADE", "shared object"),
        ("ALTER DOMAIN d ADD CONSTRAINT c CHECK (VALUE > 0)", "shared object"),
        ("REINDEX SCHEMA public", "schema or database"),
        ("ANALYZE", "every table"),
        ("VACUUM t", "VACUUM"),
        ("CLUSTER", "every table"),
        ("ALTER TABLE t ADD COLUMN", "does not parse"),
    ],
)
def test_statements_that_would_escape_the_copy_are_not_run(text, reason):
    assert reason in plan_statement(0, text).skip


@pytest.mark.parametrize(
    "text",
    [
        "ALTER TABLE t ADD COLUMN b int",
        "DROP TABLE t CASCADE",
        "SET work_mem = '64MB'",
        "ANALYZE t",
        "REINDEX TABLE t",
        "DO $$ BEGIN ALTER TABLE t ADD COLUMN x int; END $$",
    ],
)
def test_ordinary_migration_statements_are_run(text):
    assert plan_statement(0, text).skip == ""


def test_only_plain_selects_count_as_reads():
    assert plan_statement(0, "SELECT count(*) FROM v").reads_only
    assert not plan_statement(0, "SELECT * FROM v FOR UPDATE").reads_only
    assert not plan_statement(0, "WITH d AS (DELETE FROM t RETURNING 1) SELECT * FROM d").reads_only
    assert not plan_statement(0, "SELECT * INTO t2 FROM t").reads_only
    assert not plan_statement(0, "UPDATE t SET a = 1").reads_only
