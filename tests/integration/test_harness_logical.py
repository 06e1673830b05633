"""The opt-in throwaway PostgreSQL cluster really has logical decoding switched on."""

import psycopg
import pytest

pytestmark = pytest.mark.integration


def test_logical_cluster_runs_with_wal_level_logical_and_can_create_a_slot(pg_logical_url):
    with psycopg.connect(pg_logical_url, autocommit=True) as conn:
        assert conn.execute("SHOW wal_level").fetchone()[0] == "logical"
        conn.execute("SELECT pg_create_logical_replication_slot('dm_probe', 'test_decoding')")
        conn.execute("CREATE TABLE t (id int primary key)")
        conn.execute("INSERT INTO t VALUES (1)")
        changes = conn.execute(
            "SELECT data FROM pg_logical_slot_get_changes('dm_probe', NULL, NULL)"
        ).fetchall()
        conn.execute("SELECT pg_drop_replication_slot('dm_probe')")
    assert any("INSERT" in row[0] for row in changes)
