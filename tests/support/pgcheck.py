"""What a PostgreSQL read-only test compares before and after an attack: one row that changes
when any table row, the audit table, the sequence, the table list or the large objects do."""

from __future__ import annotations

import psycopg


def pg_fingerprint(url: str) -> tuple:
    """Needs the tables `t` (id, v) and `audit` and the sequence `s` of the attack setups."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT (SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM t),"
            " (SELECT count(*) FROM audit), (SELECT last_value || ':' || is_called FROM s),"
            " (SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables"
            "   WHERE schemaname = 'public'),"
            " (SELECT count(*) FROM pg_largeobject_metadata)"
        ).fetchone()
