"""The MariaDB read-only query path against executable comments, file access, unknown functions
and oversized answers (issue 10, items 4 and 7), on the MariaDB server of this machine.

The server writes INTO OUTFILE files on this host (secure_file_priv is empty here), so a test
that checks a /tmp path for a file would see a write: `outfile` first proves that the server
can write the path, then each attack proves it did not.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pymysql
import pytest

from datamigration.db import connect
from datamigration.db.readonly import MAX_RESULT_BYTES, MAX_VALUE_BYTES
from datamigration.errors import ReadOnlyViolationError
from support.querycheck import mysql_connect, peak_rss_kb

pytestmark = pytest.mark.integration


def _fingerprint(url: str) -> tuple:
    with mysql_connect(url) as conn, conn.cursor() as cur:
        cur.execute("CHECKSUM TABLE t")
        checksum = cur.fetchone()[1]
        cur.execute("SHOW TABLES")
        return checksum, sorted(r[0] for r in cur.fetchall())


@pytest.fixture
def my_db(mysql_url: str) -> str:
    with mysql_connect(mysql_url) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id int PRIMARY KEY, v varchar(50) NOT NULL)")
        cur.execute("INSERT INTO t SELECT seq, concat('value ', seq) FROM seq_1_to_50")
    return mysql_url


@pytest.fixture
def outfile(my_db: str) -> Iterator[Path]:
    """A /tmp path the MariaDB server can write (proved by writing a sibling), not yet there."""
    probe = Path(f"/tmp/dm-probe-{uuid.uuid4().hex}.txt")
    path = Path(f"/tmp/dm-pwned-{uuid.uuid4().hex}.txt")
    with mysql_connect(my_db) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT 1 INTO OUTFILE '{probe}'")
    try:
        assert probe.exists(), "the server cannot write /tmp: the tests below would prove nothing"
        yield path
        assert not path.exists()
    finally:
        for p in (probe, path):
            p.unlink(missing_ok=True)


ATTACKS = [
    "SELECT * FROM t /*!INTO OUTFILE '{out}' */",
    "SELECT * FROM t /*!INTO DUMPFILE '{out}' */",
    "SELECT v FROM t LIMIT 1 /*!50000 INTO DUMPFILE '{out}' */",
    "SELECT * FROM t /*M!INTO OUTFILE '{out}' */",
    "SELECT * FROM t /*M!100000 INTO OUTFILE '{out}' */",
    "SELECT * FROM t /*m! INTO OUTFILE '{out}' */",
    "SELECT /*!32302 1 */ /*! INTO OUTFILE '{out}' */",
    "SELECT * FROM t INTO OUTFILE '{out}'",
    "SELECT * INTO OUTFILE '{out}' FROM t",
    "SELECT v FROM t LIMIT 1 INTO DUMPFILE '{out}'",
    "SELECT * FROM t UNION SELECT * FROM t INTO OUTFILE '{out}'",
    "SELECT 1 /* /* */ INTO OUTFILE '{out}' -- */",
    "SELECT 1 # a comment\n INTO OUTFILE '{out}'",
    "SELECT 1 --x INTO OUTFILE '{out}'",
    "SELECT /*+ SET_VAR(sql_mode='') */ * FROM t",
    "SELECT LOAD_FILE('/etc/passwd') IS NOT NULL",
    "SELECT load_file /* c */ ('/etc/passwd')",
    "SELECT length(LOAD_FILE('/etc/passwd'))",
    "SHOW TABLES WHERE LOAD_FILE('/etc/passwd') IS NOT NULL",
    "SELECT SLEEP(1)",
    "SELECT BENCHMARK(100000000, MD5('x'))",
    "SELECT GET_LOCK('dm', 0)",
    "SELECT RELEASE_LOCK('dm')",
    "SELECT sys_exec('touch {out}')",
    "SELECT `concat`('a')",
    "SELECT mysql.f()",
    "SELECT 1 INTO @a",
    "SELECT * FROM t FOR UPDATE",
    "SELECT * FROM t LOCK IN SHARE MODE",
    "EXPLAIN ANALYZE SELECT * FROM t",
    "ANALYZE SELECT * FROM t",
    "EXPLAIN DELETE FROM t",
    "DO SLEEP(1)",
    "HANDLER t OPEN",
    "LOAD DATA INFILE '/etc/passwd' INTO TABLE t",
    "SELECT 1; SELECT 2",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_refuses_the_attack_before_sending_and_nothing_changes(my_db, outfile, attack):
    before = _fingerprint(my_db)
    with connect(my_db) as db:
        sent_before = db.counter.count
        with pytest.raises(ReadOnlyViolationError):
            db.query(attack.format(out=outfile))
        assert db.counter.count == sent_before  # refused on the parse: nothing was sent
    assert _fingerprint(my_db) == before


def test_a_session_without_backslash_escapes_cannot_split_a_string_differently(my_db, outfile):
    # With NO_BACKSLASH_ESCAPES the server ends the string at \' while the parser (MySQL's
    # default) reads on: the query path resets sql_mode so both read the same statement.
    attack = f"SELECT 'a\\' INTO OUTFILE \"{outfile}\" -- '"
    with connect(my_db) as db:
        with db.conn.cursor() as cur:
            cur.execute("SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES,ANSI_QUOTES'")
        assert db.query(attack).rows == (("a' INTO OUTFILE \"" + str(outfile) + '" -- ',),)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT v FROM t WHERE id = 1 /* a plain comment */",
        "SELECT concat('/', '*!') AS looks_like_a_comment",
        "SELECT DATE_ADD(NOW(), INTERVAL 1 DAY) > NOW(), IFNULL(NULL, 1), CAST(1 AS CHAR)",
        "WITH x (a) AS (SELECT id FROM t) SELECT count(*) FROM x",
        "SELECT id FROM t USE INDEX (PRIMARY) WHERE id IN (1, 2) AND EXISTS (SELECT 1)",
        "EXPLAIN SELECT * FROM t",
        "DESCRIBE t",
        "SHOW CREATE TABLE t",
        "SELECT id FROM t UNION SELECT id + 100 FROM t",
    ],
)
def test_still_runs_plain_read_queries(my_db, sql):
    with connect(my_db) as db:
        assert db.query(sql).rows


def test_warns_when_the_account_can_reach_the_servers_files(my_db):
    with connect(my_db) as db:
        warnings = db.query("SELECT 1").to_dict()["warnings"]
    assert any("FILE" in w and "GRANT SELECT, SHOW VIEW" in w for w in warnings)


@pytest.fixture
def readonly_user(my_db: str) -> Iterator[str]:
    """The account docs/safety.md asks for: SELECT and SHOW VIEW on the database, nothing else."""
    name, password = f"dmro{uuid.uuid4().hex[:8]}", "ro-pw-1"
    database = urlsplit(my_db).path.lstrip("/")
    with mysql_connect(my_db) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'")
        cur.execute(f"GRANT SELECT, SHOW VIEW ON `{database}`.* TO '{name}'@'%'")
    parts = urlsplit(my_db)
    try:
        yield f"mysql://{name}:{password}@{parts.hostname}:{parts.port or 3306}/{database}"
    finally:
        with mysql_connect(my_db) as conn, conn.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{name}'@'%'")


def test_a_read_only_account_gets_no_warning_and_the_server_refuses_files_too(
    readonly_user, outfile
):
    with connect(readonly_user) as db:
        assert "warnings" not in db.query("SELECT id FROM t").to_dict()
    with (
        mysql_connect(readonly_user) as conn,
        conn.cursor() as cur,
        pytest.raises(pymysql.MySQLError),
    ):
        cur.execute(f"SELECT 1 INTO OUTFILE '{outfile}'")  # the database's own half


# --- item 7: answers bounded in rows, bytes and memory ---------------------------------------


def test_a_row_cap_stops_a_million_row_select_and_the_session_is_usable_after(my_db):
    with connect(my_db) as db:
        result = db.query("SELECT seq FROM seq_1_to_5000000", max_rows=100)
        assert result.truncated and result.row_count == 100
        assert result.rows[-1] == (100,)
        assert db.query("SELECT count(*) FROM t").rows == ((50,),)


def test_a_long_value_is_cut_and_the_answer_says_so(my_db):
    with connect(my_db) as db:
        result = db.query("SELECT REPEAT('x', 5000000) AS big, 'small' AS s")
    value = result.rows[0][0]
    assert len(value.encode()) < MAX_VALUE_BYTES + 100 and "5000000 bytes" in value
    assert result.rows[0][1] == "small"
    assert result.truncated and "cut" in result.warnings[0]


def test_many_medium_rows_stop_at_the_byte_cap(my_db):
    with connect(my_db) as db:
        result = db.query("SELECT seq, REPEAT('y', 4000) FROM seq_1_to_1000", max_rows=1000)
    assert result.truncated and 0 < result.row_count < 1000
    assert len(str(result.to_dict()["rows"])) < MAX_RESULT_BYTES * 1.2


def test_peak_memory_stays_flat_for_ten_million_rows_with_a_hundred_row_cap(my_db):
    before, after, outcome = peak_rss_kb(
        my_db, "SELECT seq, REPEAT('z', 100) FROM seq_1_to_10000000"
    )
    assert outcome == "rows=100,truncated=True"
    assert after - before < 30_000, (before, after)  # KiB; buffering all would be ~1.5 GB


def test_the_cli_refuses_the_issues_example_and_warns_about_file_on_a_plain_query(
    my_db, outfile, capsys, workspace_dir
):
    from datamigration.cli import main

    ws = ["--workspace", str(workspace_dir)]
    code = main([*ws, "query", my_db, f"SELECT * FROM t /*!INTO OUTFILE '{outfile}' */"])
    err = capsys.readouterr().err
    assert code == 5 and "executable comments" in err and "hint" in err
    assert main([*ws, "query", my_db, "SELECT count(*) FROM t"]) == 0
    out = capsys.readouterr()
    assert "50" in out.out and "warning:" in out.err and "FILE" in out.err
