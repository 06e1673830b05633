"""Dual write, verified from the outside: an application writes through the helper to
PostgreSQL (old, the source of truth) and MariaDB (new) while the new side fails on purpose
(its table locked by another session, a CHECK constraint the old side lacks); no write of the
application fails, each failure is in the reconcile log, and after `reconcile()` the checksum
diff between the two is empty. A failure on the old side is the application's and leaves the
new side untouched."""

from __future__ import annotations

import threading

import psycopg
import pytest

from datamigration.errors import DatabaseError
from datamigration.move.sync.dual_write import DualWriter
from datamigration.validate.diff import diff_tables
from datamigration.workspace.root import Workspace
from support import services

pytestmark = pytest.mark.integration


def mariadb(url: str, sql: str) -> None:
    with services._mysql_connect(url, url.rsplit("/", 1)[1]) as conn, conn.cursor() as cur:
        cur.execute(sql)


@pytest.fixture
def sides(pg_url: str, mysql_url: str) -> tuple[str, str]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, "
                     "balance numeric(12,2) NOT NULL)")  # fmt: skip
    mariadb(mysql_url, "CREATE TABLE accounts (id int PRIMARY KEY, owner varchar(50) NOT NULL, "
                       "balance decimal(12,2) NOT NULL)")  # fmt: skip
    return pg_url, mysql_url


def test_failures_on_the_new_side_never_fail_the_app_and_reconcile_leaves_no_difference(
    sides, workspace_dir
):
    old, new = sides
    ws = Workspace.open(workspace_dir)
    with DualWriter(old, new, workspace=ws, name="accounts", new_lock_timeout_ms=1000) as dw:
        for i in range(1, 101):
            dw.insert("accounts", {"id": i, "owner": f"o{i}", "balance": i})
        mariadb(new, "ALTER TABLE accounts ADD CONSTRAINT small CHECK (balance < 1000)")
        for i in (10, 20, 30):
            dw.update("accounts", {"id": i}, {"balance": 5000})  # refused by the new side
        dw.insert("accounts", {"id": 101, "owner": "big", "balance": 2000})  # refused too
        locked, release = threading.Event(), threading.Event()

        def hold_lock() -> None:
            with services._mysql_connect(new, new.rsplit("/", 1)[1]) as conn, conn.cursor() as c:
                c.execute("LOCK TABLES accounts WRITE")
                locked.set()
                release.wait(30)
                c.execute("UNLOCK TABLES")

        holder = threading.Thread(target=hold_lock)
        holder.start()
        assert locked.wait(10)
        try:
            dw.delete("accounts", {"id": 50})  # waits 1 s for the lock, then is recorded
            dw.update("accounts", {"id": 60}, {"owner": "renamed"})
        finally:
            release.set()
            holder.join()
        dw.insert("accounts", {"id": 102, "owner": "after", "balance": 1})
        dw.update("accounts", {"id": 101}, {"owner": "big2"})  # no row 101 on the new side
        pending = dw.pending()
        assert [(p["op"], p["key"]["id"]) for p in pending] == [
            ("update", 10), ("update", 20), ("update", 30), ("insert", 101),
            ("delete", 50), ("update", 60), ("update", 101),
        ]  # fmt: skip
        assert "small" in pending[0]["error"] and "Lock wait timeout" in pending[4]["error"]
        assert not diff_tables(old, "accounts", new, "accounts", workspace=ws)["identical"]

        mariadb(new, "ALTER TABLE accounts DROP CONSTRAINT small")  # the new side is fixed
        done = dw.reconcile()
        assert (done["keys"], done["upserted"], done["deleted"]) == (6, 5, 1)
        assert done["still_failing"] == [] and dw.pending() == []
    diff = diff_tables(old, "accounts", new, "accounts", workspace=ws)
    assert diff["identical"] and diff["source"]["rows"] == 101


def test_a_key_that_fails_again_stays_in_the_log_and_a_failed_old_write_touches_nothing(
    sides, workspace_dir
):
    old, new = sides
    ws = Workspace.open(workspace_dir)
    with DualWriter(old, new, workspace=ws) as dw:
        dw.insert("accounts", {"id": 1, "owner": "a", "balance": 1})
        with pytest.raises(DatabaseError):  # the old side refuses: the application's error
            dw.insert("accounts", {"id": 1, "owner": "again", "balance": 2})
        assert dw.pending() == []
        mariadb(new, "ALTER TABLE accounts ADD CONSTRAINT small CHECK (balance < 1000)")
        dw.insert("accounts", {"id": 2, "owner": "b", "balance": 5000})
        first = dw.reconcile()
        assert [e["key"] for e in first["still_failing"]] == [{"id": 2}]
        assert [e["key"] for e in dw.pending()] == [{"id": 2}]
        with psycopg.connect(old) as conn:
            assert conn.execute("SELECT owner FROM accounts WHERE id = 1").fetchone() == ("a",)
    log = (workspace_dir / ".datamigration" / "dual_write" / "dual_write.jsonl").read_text()
    assert '"id": 2' in log and "password" not in log
