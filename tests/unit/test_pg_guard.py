"""The PostgreSQL statement guard on the parse tree alone, without a database: what is refused,
with which reason, and what the catalog check is given to look up; and values PostgreSQL
already cut on the server passing the shared caps once."""

from __future__ import annotations

import pytest

from datamigration.db.postgres.guard import ALLOWED_FUNCTIONS, Refused, check_read
from datamigration.db.readonly import CUT_MARK, MAX_VALUE_BYTES, cut_text, fetch_capped


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("DO $$ BEGIN RESET ROLE; END $$", "DO is not a plain read"),
        ("CALL p()", "CALL is not a plain read"),
        ("RESET ROLE", "SET/RESET is not a plain read"),
        ("SET ROLE postgres", "SET/RESET is not a plain read"),
        ("COPY t TO PROGRAM 'x'", "COPY is not a plain read"),
        ("SELECT 1; SELECT 2", "2 statements given"),
        ("", "0 statements given"),
        ("SELECT * INTO t2 FROM t", "SELECT ... INTO creates a table"),
        ("SELECT * FROM t FOR UPDATE", "FOR UPDATE/SHARE takes row locks"),
        ("WITH d AS (DELETE FROM t RETURNING 1) SELECT 1", "data-modifying DELETE"),
        ("WITH i AS (INSERT INTO t VALUES (1) RETURNING 1) SELECT 1", "data-modifying INSERT"),
        ("EXPLAIN ANALYZE SELECT 1", "EXPLAIN (ANALYZE)"),
        ("EXPLAIN UPDATE t SET a = 1", "UPDATE is not a plain read"),
        ("SELECT pg_terminate_backend(1)", "ends another session"),
        ("SELECT pg_catalog.pg_terminate_backend(1)", "ends another session"),
        ("SELECT set_config('role', 'x', true)", "changes settings"),
        ("SELECT lo_import('/etc/passwd')", "large objects"),
        ("SELECT dblink_exec('', 'x')", "another connection"),
        ("SELECT pg_advisory_xact_lock(1)", "advisory lock"),
        ("SELECT query_to_xml('x', true, true, '')", "runs the SQL text"),
        ("SELECT public.lower('x')", "public.lower() is not a built-in"),
        ("SELECT my_function()", "my_function() is not on the query path's allow-list"),
        ("SELECT 1 OPERATOR(public.+) 1", "operator public.+ is not a built-in"),
        ("SELECT * FROM t TABLESAMPLE my_method (1)", "not a built-in sampling method"),
        ("SELECT $1", "parameters ($1)"),
        ("SELEC 1", "does not parse"),
    ],
)
def test_refuses_what_is_not_a_plain_read_and_says_why(sql, why):
    with pytest.raises(Refused) as info:
        check_read(sql)
    assert why in info.value.why


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT x FROM (SELECT 1 FROM t WHERE a = (SELECT pg_sleep(1))) s",
        "WITH c AS (SELECT pg_sleep(1)) SELECT * FROM c",
        "SELECT * FROM t, LATERAL (SELECT pg_sleep(1)) x",
        "SELECT pg_sleep(1)::text",
        "SELECT CAST(pg_sleep(1) AS text)",
        "SELECT 1 ORDER BY pg_sleep(1)",
        "VALUES (pg_sleep(1))",
        "SELECT coalesce(NULL, pg_sleep(1))",
        "SELECT CASE WHEN true THEN pg_sleep(1) END",
        "SELECT array[pg_sleep(1)]",
        "SELECT count(*) FILTER (WHERE pg_sleep(1) IS NULL) FROM t",
        "SELECT sum(1) OVER (PARTITION BY pg_sleep(1)) FROM t",
        "SELECT * FROM pg_sleep(1)",
        "EXPLAIN SELECT pg_sleep(1)",
        "SELECT 1 UNION SELECT 1 FROM pg_sleep(1)",
        "SELECT " + "(" * 200 + "pg_sleep(1)" + ")" * 200,
    ],
)
def test_finds_a_refused_function_wherever_it_is_nested(sql):
    with pytest.raises(Refused, match="pg_sleep"):
        check_read(sql)


def test_a_read_is_accepted_with_the_names_the_catalog_check_must_look_up():
    shape = check_read(
        "SELECT lower(v), 'x'::regclass, n::public.mood FROM s.t JOIN u USING (id) "
        "WHERE v ~~ 'a%' AND id IN (SELECT id FROM w)"
    )
    assert shape.kind == "select"
    assert shape.functions == {"lower"}
    assert {"~~", "="} <= shape.operators
    assert shape.types == {'"regclass"', '"public"."mood"'}
    assert shape.relations == {'"s"."t"', '"u"', '"w"'}


@pytest.mark.parametrize(
    ("sql", "kind"),
    [("TABLE t", "select"), ("VALUES (1)", "select"), ("SHOW work_mem", "show")]
    + [("EXPLAIN (COSTS OFF, FORMAT JSON) SELECT 1", "explain")],
)
def test_accepts_table_values_show_and_explain(sql, kind):
    assert check_read(sql).kind == kind


def test_the_allow_list_has_no_function_that_acts_outside_the_statement():
    dangerous = {"set_config", "pg_sleep", "pg_terminate_backend", "pg_cancel_backend"}
    dangerous |= {"pg_read_file", "lo_import", "lo_export", "dblink_exec", "nextval", "setval"}
    dangerous |= {"query_to_xml", "pg_advisory_lock", "txid_current", "pg_reload_conf", "ts_stat"}
    assert not dangerous & ALLOWED_FUNCTIONS


class FakeCursor:
    """Hands out rows like a DB-API cursor."""

    def __init__(self, rows: list[tuple]) -> None:
        self.rows = rows

    def fetchmany(self, size: int) -> list[tuple]:
        out, self.rows = self.rows[:size], self.rows[size:]
        return out


def test_a_value_the_server_already_cut_is_counted_as_cut_and_not_cut_again():
    already = cut_text(b"x" * MAX_VALUE_BYTES, 50_000_000)
    result = fetch_capped(FakeCursor([(already, 1)]), ["big", "small"], 5, 0.0)
    assert result.rows == ((str(already), 1),) and result.truncated and result.warnings
    assert result.rows[0][0].endswith(f"{CUT_MARK}50000000 bytes]")
    assert result.rows[0][0].count(CUT_MARK) == 1
