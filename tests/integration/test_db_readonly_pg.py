"""The PostgreSQL read-only query path against the code-execution family of issue 10, item 1.

Every attack runs twice: with a superuser URL (the statement runs downgraded to the read-only
role, guarded by the parser and the catalog check) and with a plain login role's URL (the
database holds it to its own rights). Each test proves that nothing happened: the table
checksum, the audit table, the sequence, the large objects and the table list are the same, no
file was written by the server, and a second session is still alive. A refusal must come before
anything is sent (the statement never appears among the queries the backend sent).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from mcp.client import Client

from datamigration.db import connect
from datamigration.db.readonly import CUT_MARK, MAX_RESULT_BYTES, MAX_VALUE_BYTES
from datamigration.errors import DatabaseError, ReadOnlyViolationError
from datamigration.mcp.app import build_server
from datamigration.workspace.root import Workspace
from support.pgcheck import pg_fingerprint as fingerprint

pytestmark = pytest.mark.integration

SETUP = """
CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL);
INSERT INTO t SELECT g, 'value ' || g FROM generate_series(1, 50) g;
CREATE TABLE audit (id serial PRIMARY KEY, at timestamptz DEFAULT now());
CREATE SEQUENCE s;
CREATE PROCEDURE p() LANGUAGE sql AS $$ DELETE FROM t $$;
CREATE FUNCTION side_effect() RETURNS int LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO audit DEFAULT VALUES; RETURN 1; END $$;
CREATE EXTENSION IF NOT EXISTS dblink;
"""

#: User code that undoes any role switch and then acts as the authenticated user: writes the
#: marker file through the server and ends the victim session. Reached through a view, an
#: operator, a shadowing function, a domain check, a cast and a row-level security policy.
ESCALATION = """
CREATE FUNCTION escalate() RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  BEGIN RESET SESSION AUTHORIZATION; EXCEPTION WHEN OTHERS THEN NULL; END;
  BEGIN RESET ROLE; EXCEPTION WHEN OTHERS THEN NULL; END;
  EXECUTE 'COPY (SELECT current_user) TO PROGRAM ''cat > {marker}''';
  PERFORM pg_terminate_backend({victim});
  RETURN true;
END $f$;
CREATE VIEW v_escalate AS SELECT escalate() AS x;
CREATE VIEW v_nested AS SELECT * FROM v_escalate;
CREATE FUNCTION escalate_op(int, int) RETURNS boolean LANGUAGE sql AS 'SELECT escalate()';
CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = escalate_op);
CREATE FUNCTION public.upper(int) RETURNS boolean LANGUAGE sql AS 'SELECT escalate()';
CREATE FUNCTION escalate_int(int) RETURNS boolean LANGUAGE sql AS 'SELECT escalate()';
CREATE DOMAIN checked AS int CHECK (escalate_int(VALUE));
CREATE TYPE mood AS ENUM ('ok');
CREATE FUNCTION to_mood(int) RETURNS mood LANGUAGE plpgsql AS
  $f$ BEGIN PERFORM escalate(); RETURN 'ok'; END $f$;
CREATE CAST (int AS mood) WITH FUNCTION to_mood(int);
CREATE TABLE guarded (id int);
INSERT INTO guarded VALUES (1);
ALTER TABLE guarded ENABLE ROW LEVEL SECURITY;
CREATE POLICY everyone ON guarded USING (escalate());
"""

ATTACKS = [
    # the issue's example, and DO / CALL
    (
        "DO $$ BEGIN RESET ROLE; EXECUTE 'COPY (SELECT current_user) TO PROGRAM "
        "''cat > {marker}'''; END $$"
    ),
    "DO $$ BEGIN DELETE FROM t; END $$",
    "do $$ begin perform pg_terminate_backend({victim}); end $$",
    "CALL p()",
    # role and settings
    "SET ROLE postgres",
    "RESET ROLE",
    "SET SESSION AUTHORIZATION postgres",
    "RESET SESSION AUTHORIZATION",
    "SET LOCAL ROLE NONE",
    "SET default_transaction_read_only = off",
    "SET TRANSACTION READ WRITE",
    "RESET ALL",
    "SELECT set_config('role', 'postgres', false)",
    "SELECT pg_catalog.set_config('role', 'postgres', true), pg_terminate_backend({victim})",
    "SELECT * FROM t WHERE v = (SELECT set_config('role', 'postgres', true))",
    # server programs and files
    "COPY t TO PROGRAM 'touch {marker}'",
    "COPY (SELECT 1) TO '{marker}'",
    "COPY t FROM PROGRAM 'touch {marker}'",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT pg_catalog.pg_read_binary_file('/etc/passwd')",
    "SELECT * FROM pg_ls_dir('.')",
    "SELECT lo_import('/etc/passwd')",
    "SELECT lo_export(0, '{marker}')",
    "SELECT lo_from_bytea(0, 'x')",
    # other connections
    "SELECT dblink_exec('{conninfo}', 'DROP TABLE t')",
    "SELECT public.dblink_exec('{conninfo}', 'DELETE FROM t')",
    "SELECT * FROM dblink('{conninfo}', 'DELETE FROM t RETURNING id') AS x(id int)",
    "SELECT * FROM t, LATERAL dblink('{conninfo}', 'DROP TABLE t') AS x(r text)",
    "SELECT query_to_xml('DELETE FROM t RETURNING id', true, true, '')",
    # other sessions, locks, waits
    "SELECT pg_terminate_backend({victim})",
    "SELECT pg_cancel_backend({victim})",
    "SELECT 1 FROM t WHERE id = (SELECT pg_terminate_backend({victim})::int)",
    "WITH x AS (SELECT pg_terminate_backend({victim}) AS k) SELECT * FROM x",
    "SELECT * FROM t, LATERAL (SELECT pg_terminate_backend({victim})) k",
    "SELECT pg_terminate_backend({victim})::text",
    "SELECT id FROM t ORDER BY pg_terminate_backend({victim})",
    "VALUES (pg_terminate_backend({victim}))",
    "SELECT CAST(pg_terminate_backend({victim}) AS int)",
    "SELECT pg_advisory_lock(42)",
    "SELECT pg_sleep(30)",
    "SELECT pg_reload_conf()",
    "LOCK TABLE t",
    "LISTEN ch",
    "NOTIFY ch",
    # writes, data-modifying CTEs, SELECT INTO, row locks, sequences, user functions
    "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
    "WITH i AS (INSERT INTO audit DEFAULT VALUES RETURNING id) SELECT 1",
    "WITH u AS (UPDATE t SET v = 'x' RETURNING 1) SELECT count(*) FROM u",
    "SELECT * FROM (WITH d AS (DELETE FROM t RETURNING id) SELECT id FROM d) s",
    "SELECT * INTO t2 FROM t",
    "CREATE TABLE t3 AS SELECT * FROM t",
    "SELECT * FROM t FOR UPDATE",
    "SELECT * FROM (SELECT * FROM t FOR SHARE) s",
    "SELECT nextval('s')",
    "SELECT setval('s', 100)",
    "SELECT side_effect()",
    "SELECT public.side_effect()",
    "EXPLAIN ANALYZE DELETE FROM t",
    "EXPLAIN (ANALYZE, FORMAT JSON) SELECT side_effect()",
    "EXPLAIN DELETE FROM t",
    "UPDATE t SET v = 'changed'",
    "MERGE INTO t USING t AS u ON t.id = u.id WHEN MATCHED THEN DELETE",
    "TRUNCATE t",
    "DROP TABLE t",
    "PREPARE q AS DELETE FROM t",
    "EXECUTE q",
    "DEALLOCATE ALL",
    "DISCARD ALL",
    "DECLARE c CURSOR FOR SELECT 1",
    "VACUUM t",
    "CHECKPOINT",
    "LOAD 'dblink'",
    "ALTER SYSTEM SET work_mem = '1MB'",
    # several statements, comments hiding statements
    "SELECT 1; DROP TABLE t",
    "COMMIT; DROP TABLE t",
    "ROLLBACK; DELETE FROM t",
    "/* a harmless comment; */ SELECT 1; -- trailing\nDELETE FROM t",
    "SELECT 1 /* ; */ ; DELETE FROM t",
    "-- SELECT 1\nDELETE FROM t",
    "/* SELECT 1; */ DROP TABLE t",
    "SELECT 1 -- ; \n; TRUNCATE t",
    "SELECT $$;$$; DROP TABLE t",
    "",
]

#: Attacks through user code the statement's text does not call. A superuser's statement is
#: refused before sending (catalog check); a plain role's runs and fails in the database.
INDIRECT = [
    "SELECT * FROM v_escalate",
    "SELECT * FROM v_nested",
    "SELECT 1 === 2",
    "SELECT upper(1)",
    "SELECT 1::checked",
    "SELECT 1::mood",
    "SELECT * FROM guarded",
]

TERMINATE = "SELECT pg_terminate_backend({victim})"
assert TERMINATE in ATTACKS

READS = [
    "SELECT count(*), sum(id), max(v), min(length(v)) FROM t",
    "WITH x AS (SELECT id, v FROM t WHERE id < 10) SELECT count(*) FROM x",
    "SELECT id, sum(id) OVER (ORDER BY id ROWS 2 PRECEDING) FROM t ORDER BY id",
    "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY id) FROM t",
    "SELECT coalesce(NULL, upper(v)), now() > '2000-01-01', date_trunc('day', now()) FROM t",
    "SELECT jsonb_build_object('id', id), to_jsonb(t), array_agg(id) OVER () FROM t LIMIT 3",
    "SELECT string_agg(v, ',' ORDER BY id), json_agg(id) FROM t WHERE id BETWEEN 1 AND 5",
    "SELECT pg_size_pretty(pg_total_relation_size('t')), pg_relation_size('t'::regclass)",
    (
        "SELECT format_type(atttypid, atttypmod), obj_description('t'::regclass, 'pg_class') "
        "FROM pg_attribute WHERE attrelid = 't'::regclass AND attnum > 0"
    ),
    "SELECT has_table_privilege('t', 'SELECT'), current_setting('server_version')",
    "SELECT g FROM generate_series(1, 5) g",
    "SELECT * FROM (SELECT id FROM t WHERE id IN (SELECT id FROM t WHERE id % 2 = 0)) s",
    (
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) "
        "SELECT sum(n) FROM r"
    ),
    "SELECT relname, n_live_tup FROM pg_stat_user_tables",
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    "SELECT * FROM t TABLESAMPLE BERNOULLI (50) LIMIT 1",
    "SELECT pg_catalog.lower(v) FROM t LIMIT 1",
    "SELECT v FROM t WHERE v LIKE 'value 1%' AND id = ANY(ARRAY[1, 10])",
    "SELECT x::text, CAST(x AS numeric) FROM (VALUES (1), (2)) v(x)",
    "SELECT * FROM t, LATERAL unnest(ARRAY[id, id + 1]) u LIMIT 3",
    "VALUES (1, 'a'), (2, 'b')",
    "TABLE t",
    "SHOW server_version",
    "EXPLAIN SELECT * FROM t WHERE id = 1",
    "EXPLAIN (VERBOSE, COSTS OFF, FORMAT JSON) SELECT count(*) FROM t",
    "SELECT 'pg_terminate_backend(1); DROP TABLE t' AS text_only",
    "SELECT v FROM t ORDER BY id; -- a trailing comment",
    "SELECT v, jsonb_build_object('v', v) FROM t -- a comment without a newline",
]


def _with_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    netloc = f"{user}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
def db(pg_url: str) -> str:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(SETUP)
    return pg_url


@contextlib.contextmanager
def _login_role(db: str, prefix: str, roles: str) -> Iterator[str]:
    """The URL of a new login role in `roles` (the cluster's roles are shared: dropped after)."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{name}" LOGIN IN ROLE {roles}')
    try:
        yield _with_user(db, name)
    finally:
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute(f'DROP ROLE "{name}"')


@pytest.fixture
def reader(db: str) -> Iterator[str]:
    """A plain login role that may read everything and nothing else (the documented setup)."""
    with _login_role(db, "dm_reader", "pg_read_all_data") as url:
        yield url


@pytest.fixture(params=["superuser", "plain role"])
def url(request: pytest.FixtureRequest, db: str) -> str:
    if request.param == "superuser":
        return db
    return request.getfixturevalue("reader")


@pytest.fixture
def victim(db: str) -> Iterator[psycopg.Connection]:
    """A superuser's session on the same server: it must survive every attack."""
    conn = psycopg.connect(db, autocommit=True)
    yield conn
    conn.close()


@pytest.fixture
def marker() -> Iterator[Path]:
    """A file the server could write (in /tmp, which the server's OS user may write)."""
    path = Path(f"/tmp/dm_pwned_{uuid.uuid4().hex}.txt")
    yield path
    if path.exists():
        path.unlink()


@pytest.fixture
def escalation(db: str, victim: psycopg.Connection, marker: Path) -> str:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(ESCALATION.format(marker=marker, victim=victim.info.backend_pid))
    return db


def _attack(template: str, db: str, victim: psycopg.Connection, marker: Path) -> str:
    conninfo = f"dbname={urlsplit(db).path.lstrip('/')} host=127.0.0.1 user=postgres"
    return template.format(victim=victim.info.backend_pid, marker=marker, conninfo=conninfo)


def _assert_nothing_happened(db: str, before: tuple, victim: psycopg.Connection, marker: Path):
    assert fingerprint(db) == before
    assert victim.execute("SELECT 1").fetchone() == (1,)
    assert not marker.exists(), marker.read_text()


@pytest.mark.parametrize("template", ATTACKS)
def test_refuses_the_attack_before_sending_it_and_nothing_changes(
    template, url, db, victim, marker
):
    sql = _attack(template, db, victim, marker)
    before = fingerprint(db)
    with connect(url) as backend:
        with pytest.raises(ReadOnlyViolationError) as info:
            backend.query(sql)
        assert backend.counter.count == 0, backend.counter.statements  # nothing was sent
    assert str(info.value).startswith("query refused on ")
    assert info.value.data["sent"] is False and info.value.hint
    _assert_nothing_happened(db, before, victim, marker)


@pytest.fixture
def privileged(db: str) -> Iterator[str]:
    """A login role that is no superuser but may signal other sessions."""
    with _login_role(db, "dm_signaller", "pg_read_all_data, pg_signal_backend") as url:
        yield url


@pytest.mark.parametrize("who", ["superuser", "privileged role"])
@pytest.mark.parametrize("sql", INDIRECT)
def test_refuses_a_privileged_statement_that_reaches_user_code_before_sending_it(
    request, who, sql, escalation, victim, marker
):
    url = escalation if who == "superuser" else request.getfixturevalue("privileged")
    before = fingerprint(escalation)
    with connect(url) as backend:
        with pytest.raises(ReadOnlyViolationError, match="could run the user function") as info:
            backend.query(sql)
        assert sql not in backend.counter.statements
    assert info.value.data["sent"] is False
    assert "read-only login role" in info.value.hint
    _assert_nothing_happened(escalation, before, victim, marker)


@pytest.mark.parametrize("sql", INDIRECT)
def test_a_plain_role_reaching_user_code_fails_in_the_database_and_says_it_was_sent(
    sql, escalation, reader, victim, marker
):
    before = fingerprint(escalation)
    with connect(reader) as backend:
        try:
            result = backend.query(sql)
        except DatabaseError as exc:
            assert "refused" not in str(exc) and exc.data["sent"] is True
        else:  # the policy hides the row (the function ran as the plain role and failed)
            assert result.rows == ()
    _assert_nothing_happened(escalation, before, victim, marker)


def test_a_user_implicit_cast_anywhere_refuses_a_superuser_statement(db, victim, marker):
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "CREATE TYPE mood AS ENUM ('ok');"
            "CREATE FUNCTION to_mood(text) RETURNS mood LANGUAGE plpgsql AS"
            "  $f$ BEGIN INSERT INTO audit DEFAULT VALUES; RETURN 'ok'; END $f$;"
            "CREATE CAST (text AS mood) WITH FUNCTION to_mood(text) AS IMPLICIT"
        )
    before = fingerprint(db)
    with connect(db) as backend, pytest.raises(ReadOnlyViolationError) as info:
        backend.query("SELECT count(*) FROM t")
    assert "a cast into the type mood" in str(info.value) and info.value.data["sent"] is False
    _assert_nothing_happened(db, before, victim, marker)


def test_the_issue_example_and_dblink_do_act_when_sent_without_the_guard(db, victim, marker):
    """Control: the marker file and the dblink connection string of the attacks above work,
    so their "nothing happened" checks could fail."""
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(_attack(ATTACKS[0], db, victim, marker))
        conn.execute(
            _attack(
                "SELECT dblink_exec('{conninfo}', 'CREATE TABLE made_by_dblink ()')",
                db,
                victim,
                marker,
            )
        )
    assert marker.read_text().strip() == "postgres"
    assert "made_by_dblink" in fingerprint(db)[3]


def test_the_downgrade_alone_is_undone_by_user_code_which_is_why_the_catalog_check_exists(
    escalation, victim, marker
):
    """Control: without the guard, a view runs the escalation despite SET SESSION
    AUTHORIZATION; the tests above would catch a guard that let it through."""
    with psycopg.connect(escalation, autocommit=True) as conn:
        conn.execute("BEGIN READ ONLY")
        conn.execute("SET LOCAL SESSION AUTHORIZATION datamigration_readonly")
        assert conn.execute("SELECT * FROM v_escalate").fetchall() == [(True,)]
    assert marker.read_text().strip() == "postgres"
    with pytest.raises(psycopg.OperationalError):
        victim.execute("SELECT 1")


@pytest.mark.parametrize("sql", READS)
def test_runs_real_inspection_queries_for_both_kinds_of_user(sql, url):
    before = fingerprint(url)
    with connect(url) as backend:
        result = backend.query(sql)
    assert result.columns and result.untrusted_data is True
    assert fingerprint(url) == before


def test_a_superuser_statement_runs_as_the_read_only_role(db):
    with connect(db) as backend:
        result = backend.query("SELECT current_user, session_user, current_setting('is_superuser')")
    assert result.rows == (("datamigration_readonly", "datamigration_readonly", "off"),)


def test_a_plain_role_runs_as_itself_in_a_read_only_transaction_without_a_warning(reader):
    with connect(reader) as backend:
        result = backend.query(
            "SELECT current_user = session_user, current_setting('transaction_read_only')"
        )
    assert result.rows == ((True, "on"),) and result.warnings == ()


def test_a_superuser_answer_warns_that_it_ran_downgraded(db):
    with connect(db) as backend:
        result = backend.query("SELECT 1")
    assert any("read-only login role" in w for w in result.warnings)


def test_an_error_after_sending_is_reported_as_a_failure_not_a_refusal(url):
    with connect(url) as backend, pytest.raises(DatabaseError) as info:
        backend.query("SELECT 1 / (count(*) - count(*)) FROM t")
    assert "refused" not in str(info.value) and "division by zero" in str(info.value)
    assert info.value.data["sent"] is True


def test_the_statement_timeout_still_applies(db):
    with connect(db) as backend, pytest.raises(DatabaseError, match="statement timeout"):
        backend.query("SELECT count(*) FROM generate_series(1, 10000000000)", timeout_ms=200)


def test_the_session_stays_usable_after_refusals_and_failures(db):
    with connect(db) as backend:
        with pytest.raises(ReadOnlyViolationError):
            backend.query("DO $$ BEGIN END $$")
        with pytest.raises(DatabaseError):
            backend.query("SELECT 1 / 0")
        assert backend.query("SELECT count(*) FROM t").rows == ((50,),)


# --- item 7: the caps bound memory ------------------------------------------------------------


def test_a_huge_series_streams_only_the_capped_rows(db):
    with connect(db) as backend:
        result = backend.query("SELECT generate_series(1, 10000000)", max_rows=100)
    assert result.row_count == 100 and result.truncated is True
    assert result.rows[-1] == (100,)


def test_a_huge_value_comes_back_cut_and_marked(db):
    with connect(db) as backend:
        result = backend.query("SELECT repeat('x', 50000000) AS big, 1 AS small")
    big, small = result.rows[0]
    assert result.truncated is True and small == 1
    assert any("were cut" in w for w in result.warnings)
    assert big.startswith("x" * 1000) and big.endswith(f"{CUT_MARK}50000000 bytes]")
    assert len(big.encode()) < MAX_VALUE_BYTES + 100


def test_many_large_rows_stop_at_the_total_byte_cap(db):
    with connect(db) as backend:
        result = backend.query("SELECT repeat('y', 6000) FROM generate_series(1, 1000)")
    assert result.truncated is True
    assert 0 < result.row_count < 1000
    assert sum(len(r[0]) for r in result.rows) <= MAX_RESULT_BYTES


def test_a_huge_array_is_cut_on_the_server(db):
    with connect(db) as backend:
        result = backend.query("SELECT array_agg(g) FROM generate_series(1, 3000000) g")
    value = result.rows[0][0]
    assert isinstance(value, str) and CUT_MARK in value and result.truncated


def test_cutting_long_values_keeps_the_order_the_types_and_the_short_values(db):
    with connect(db) as backend:
        result = backend.query(
            "SELECT id, v, to_jsonb(t), repeat(v, 2000) AS long FROM t ORDER BY id DESC LIMIT 3"
        )
    assert [r[0] for r in result.rows] == [50, 49, 48]
    assert result.rows[0][1:3] == ("value 50", {"id": 50, "v": "value 50"})
    assert result.rows[0][3].endswith(f"{CUT_MARK}16000 bytes]")
    assert result.columns == ("id", "v", "to_jsonb", "long") and result.truncated


def test_small_results_are_not_marked_truncated(db):
    with connect(db) as backend:
        result = backend.query("SELECT id, v FROM t ORDER BY id", max_rows=50)
    assert result.truncated is False and result.row_count == 50


# --- the MCP tool -----------------------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_the_mcp_query_tool_refuses_the_issue_example_and_nothing_happens(
    db, workspace_dir, victim, marker
):
    before = fingerprint(db)
    attack = _attack(ATTACKS[0], db, victim, marker)
    async with Client(build_server(Workspace.open(workspace_dir))) as client:
        result = await client.call_tool("query", {"db": db, "sql": attack})
        assert result.is_error and "DO is not a plain read" in result.content[0].text
        result = await client.call_tool(
            "query", {"db": db, "sql": _attack(TERMINATE, db, victim, marker)}
        )
        assert result.is_error and "pg_terminate_backend" in result.content[0].text
        result = await client.call_tool(
            "query", {"db": db, "sql": "SELECT repeat('x', 50000000)", "max_rows": 5}
        )
        assert result.structured_content["truncated"] is True
    _assert_nothing_happened(db, before, victim, marker)
