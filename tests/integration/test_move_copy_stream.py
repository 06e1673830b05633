"""The raw COPY reader of the PostgreSQL → PostgreSQL path (`db/postgres/copy_stream.py`): it
drives libpq directly, so it must leave the connection idle however the stream ends."""

from __future__ import annotations

import psycopg
import pytest

from datamigration.db.postgres.copy_stream import copy_out_chunks

_COPY = b"COPY (SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g) TO STDOUT"


def test_the_stream_yields_every_byte_of_the_copy_in_chunks_of_the_asked_size(
    pg_url: str,
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        chunks = list(copy_out_chunks(conn, _COPY, 64 * 1024))
        with conn.cursor() as cur, cur.copy(_COPY.decode()) as copy:
            expected = b"".join(bytes(d) for d in copy)
    assert b"".join(chunks) == expected
    assert all(len(c) >= 64 * 1024 for c in chunks[:-1]) and len(chunks) > 10


def test_a_stream_given_up_halfway_leaves_the_connection_ready_for_the_next_query(
    pg_url: str,
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        stream = copy_out_chunks(conn, _COPY, 16 * 1024)
        first = next(stream)
        stream.close()
        assert first.startswith(b"1\t")
        assert conn.execute("SELECT count(*) FROM generate_series(1, 7)").fetchone() == (7,)


def test_a_copy_that_fails_raises_the_database_error_and_the_connection_stays_usable(
    pg_url: str,
) -> None:
    failing = b"COPY (SELECT 1 / (g - 5000) FROM generate_series(1, 10000) g) TO STDOUT"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            list(copy_out_chunks(conn, failing, 1024))
        with pytest.raises(psycopg.errors.UndefinedTable):
            list(copy_out_chunks(conn, b"COPY no_such_table TO STDOUT", 1024))
        assert conn.execute("SELECT 2").fetchone() == (2,)


def test_index_builds_after_the_load_get_256_mb_to_sort_unless_the_server_allows_more(
    pg_url: str,
) -> None:
    from datamigration.db.base import connect

    with connect(pg_url) as dst:
        dst.execute(["SET maintenance_work_mem = '64MB'"], autocommit=True)
        dst.execute(list(dst.after_load_session), autocommit=True)
        raised = dst.conn.execute("SHOW maintenance_work_mem").fetchone()
        dst.execute(["SET maintenance_work_mem = '1GB'", *dst.after_load_session], autocommit=True)
        kept = dst.conn.execute("SHOW maintenance_work_mem").fetchone()
    assert raised == ("256MB",) and kept == ("1GB",)
