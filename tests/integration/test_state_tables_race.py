"""Run-state tables created by several processes at once (a copy's workers, a sync daemon and
the tool that started it): every one of them carries on, none fails on the catalog race."""

import threading

import pytest

from datamigration.db.base import connect
from datamigration.db.copystate import SQLCopyState
from datamigration.db.syncstate import SQLSyncState

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("store", [SQLSyncState, SQLCopyState])
def test_six_connections_creating_the_same_state_table_at_once_all_succeed(pg_url, store):
    failures: list[str] = []
    for _ in range(3):
        with connect(pg_url) as b:
            b.execute(["DROP TABLE IF EXISTS race_state"])
        start = threading.Barrier(6)

        def create(start: threading.Barrier = start) -> None:
            with connect(pg_url) as b:
                start.wait()
                try:
                    store(b, "race_state").ensure()
                except Exception as exc:  # noqa: BLE001 - counted and shown below
                    failures.append(repr(exc)[:200])

        threads = [threading.Thread(target=create) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with connect(pg_url) as b:
            assert b.inspect(tables=["race_state"]).table("race_state") is not None
    assert failures == []
