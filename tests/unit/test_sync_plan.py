"""How the applier turns a batch of change events into steps, without a database: replays
dropped, the newest change per key kept at the place that keeps parents before children,
key changes split, truncates, unsent columns; and the dialects' upsert text."""

from __future__ import annotations

from datamigration.db.change_events import UNAVAILABLE, ChangeEvent
from datamigration.db.mysql.backend import MySQLBackend
from datamigration.db.postgres.backend import PostgresBackend
from datamigration.db.sqlite.backend import SQLiteBackend
from datamigration.db.urls import parse_url
from datamigration.move.sync.apply import plan_batch


def ev(op: str, table: str, i: int, pos: int, **row) -> ChangeEvent:
    after = None if op in ("d", "t") else {"id": i, **row}
    return ChangeEvent(op, table, {"id": i} if op != "t" else {}, None, after, (pos, 0))


def kinds(steps) -> list[tuple]:
    return [(s.kind, s.table, dict(s.key).get("id"), s.position[0]) for s in steps]


def test_an_upsert_keeps_the_place_of_the_keys_first_change_so_parents_come_first() -> None:
    batch = [ev("c", "users", 1, 1, n="a"), ev("c", "orders", 9, 2), ev("u", "users", 1, 3, n="b")]
    steps, count = plan_batch(batch, None)
    assert count == 3
    assert kinds(steps) == [("upsert", "users", 1, 3), ("upsert", "orders", 9, 2)]
    assert steps[0].row == {"id": 1, "n": "b"}


def test_a_delete_keeps_the_place_of_the_keys_last_change_so_children_go_first() -> None:
    batch = [ev("u", "users", 1, 1, n="x"), ev("d", "orders", 9, 2), ev("d", "users", 1, 3)]
    assert kinds(plan_batch(batch, None)[0]) == [
        ("delete", "orders", 9, 2),
        ("delete", "users", 1, 3),
    ]


def test_events_at_or_before_the_applied_position_and_repeated_positions_are_dropped() -> None:
    batch = [ev("c", "t", 1, 5), ev("c", "t", 2, 6), ev("c", "t", 2, 6), ev("u", "t", 1, 4, n=0)]
    steps, count = plan_batch(batch, (5, 0))
    assert count == 1 and kinds(steps) == [("upsert", "t", 2, 6)]


def test_out_of_order_events_apply_in_position_order_and_the_newest_wins() -> None:
    batch = [ev("u", "t", 1, 9, n="new"), ev("c", "t", 1, 2, n="old")]
    (step,), _ = plan_batch(batch, None)
    assert step.row == {"id": 1, "n": "new"} and step.position == (9, 0)


def test_a_key_change_deletes_the_old_key_and_a_truncate_drops_the_tables_earlier_steps() -> None:
    moved = ChangeEvent("u", "t", {"id": 2}, {"id": 1, "n": "a"}, {"id": 2, "n": "a"}, (4, 0))
    steps, _ = plan_batch([ev("c", "t", 7, 1), ev("c", "u", 1, 2), ev("t", "t", 0, 3), moved], None)
    assert kinds(steps) == [("upsert", "u", 1, 2), ("truncate", "t", None, 3),
                            ("delete", "t", 1, 4), ("upsert", "t", 2, 4)]  # fmt: skip


def test_a_column_the_source_did_not_send_is_taken_from_an_earlier_change_or_left_out() -> None:
    steps, _ = plan_batch(
        [ev("c", "t", 1, 1, a=1, b="long"), ev("u", "t", 1, 2, a=2, b=UNAVAILABLE)], None
    )
    assert steps[0].row == {"id": 1, "a": 2, "b": "long"} and steps[0].missing == ()
    (alone,), _ = plan_batch([ev("u", "t", 1, 2, a=2, b=UNAVAILABLE)], None)
    assert alone.missing == ("b",)


def test_each_dialect_spells_a_multi_row_upsert_by_key() -> None:
    pg = PostgresBackend(parse_url("postgresql://u@h/db"))
    assert pg.upsert_sql("t", ["id", "n"], ["id"], rows=2) == (
        'INSERT INTO "t" ("id", "n") VALUES (%s, %s), (%s, %s) ON CONFLICT ("id") '
        'DO UPDATE SET "n" = EXCLUDED."n"'
    )
    lite = SQLiteBackend(parse_url("sqlite:///x.db"))
    assert lite.upsert_sql("t", ["id"], ["id"]).endswith('ON CONFLICT ("id") DO NOTHING')
    my = MySQLBackend(parse_url("mysql://u@h/db"))
    assert my.upsert_sql("t", ["id", "n"], ["id"]) == (
        "INSERT INTO `t` (`id`, `n`) VALUES (%s, %s) ON DUPLICATE KEY UPDATE `n` = VALUES(`n`)"
    )
    assert my.delete_sql("t", ["a", "b"], rows=2) == (
        "DELETE FROM `t` WHERE (`a` = %s AND `b` = %s) OR (`a` = %s AND `b` = %s)"
    )
