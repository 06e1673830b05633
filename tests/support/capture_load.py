"""A small concurrent load for change capture tests: writers doing random inserts, updates
(key changes among them) and deletes, and the applier's rule (upsert or delete by key, in the
order read) to replay what a capture returned."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import psycopg
import pymysql


def apply(state: dict[Any, dict[str, Any]], events: list[Any]) -> None:
    """What an applier does: upserts and deletes by key, in the order read."""
    for e in events:
        if e.op == "d":
            state.pop(e.key["id"], None)
        else:
            state[e.key["id"]] = dict(e.after)


def writer(app: Callable[[], Any], seed: int, transactions: int) -> int:
    """Random inserts, updates (key changes among them) and deletes of 20 keys, a few per
    transaction; a transaction the database refuses (deadlock, duplicate key) is rolled back
    and leaves no change row."""
    rng, done = random.Random(seed), 0
    with app() as conn:
        for _ in range(transactions):
            cur = conn.cursor()
            try:
                for _ in range(rng.randint(1, 3)):
                    k, other = rng.randint(1, 20), rng.randint(1, 20)
                    cur.execute(rng.choice([
                        f"INSERT INTO t VALUES ({k}, {seed})",
                        f"UPDATE t SET v = v + 1 WHERE id = {k}",
                        f"UPDATE t SET id = {other} WHERE id = {k}",
                        f"DELETE FROM t WHERE id = {k}",
                    ]))  # fmt: skip
                conn.commit()
                done += 1
            except (psycopg.Error, pymysql.MySQLError):
                conn.rollback()
    return done
