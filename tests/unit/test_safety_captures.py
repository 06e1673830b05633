"""Abandoned sync captures grouped by run with the command that removes them, from the plain
lists the backends give (slots with `live` and retained WAL; trigger objects with a text
detail and no liveness)."""

from __future__ import annotations

from datamigration.safety.captures import by_run, describe


def test_objects_are_grouped_by_run_with_the_wal_they_hold_and_the_remove_command() -> None:
    items = [
        {"kind": "slot", "name": "dm_sync_a", "run": "a", "live": False,
         "detail": {"active": False, "retained_wal_bytes": 3 * 2**20},
         "remove": "SELECT pg_drop_replication_slot('dm_sync_a');"},
        {"kind": "publication", "name": "dm_sync_a_pub", "run": "a", "live": False,
         "detail": {"active": False}, "remove": 'DROP PUBLICATION "dm_sync_a_pub";'},
        {"kind": "trigger", "name": "dm_sync_b_0123abcd_i", "run": "b", "detail": "on table t"},
    ]  # fmt: skip
    runs = by_run(items)
    assert [(r["run"], r["objects"], r["retained_wal_bytes"]) for r in runs] == [
        ("a", ["slot dm_sync_a", "publication dm_sync_a_pub"], 3 * 2**20),
        ("b", ["trigger dm_sync_b_0123abcd_i"], 0),
    ]
    text = describe(runs)
    assert "run a: slot dm_sync_a, publication dm_sync_a_pub (3.0 MiB of WAL held)" in text
    assert (
        "remove with `datamigration sync stop a --yes` (or: SELECT pg_drop_replication_slot("
        in text
    )
    assert (
        "run b: trigger dm_sync_b_0123abcd_i; remove with `datamigration sync stop b --yes`" in text
    )
    assert describe([]) == ""
