"""The copy's checkpoints on the target: the state store contract and its SQL implementation.

One row per partition (key range, rows, checksum, status, attempts) and a header row per run
(part -1: fingerprint, redacted source and target, tables); see `move/state.py` for how runs
use it. The SQL store goes through the backend's transaction door, so a partition's state can
also be written inside the partition's own transaction (`state_statements`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from datamigration.errors import DatabaseError


class CopyStateStore:
    """The copy's checkpoints on the target: one row per partition plus a run header
    (part -1). Columns: run_id, tbl, part, lo, hi (JSON), status, rows, checksum, attempts,
    fingerprint, info (JSON: source/target labels, tables, settings)."""

    def ensure(self) -> None:
        raise NotImplementedError

    def rows(self, run_id: str | None = None) -> list[dict[str, Any]]:
        raise NotImplementedError

    def put(self, records: Sequence[Mapping[str, Any]]) -> None:
        raise NotImplementedError

    def drop_run(self, run_id: str) -> None:
        raise NotImplementedError


STATE_COLUMNS = (
    "run_id",
    "tbl",
    "part",
    "lo",
    "hi",
    "status",
    "rows",
    "checksum",
    "attempts",
    "fingerprint",
    "info",
)


def create_state_table(backend: Any, name: str, statement: str) -> None:
    """Create a run-state table that may be missing. Two processes starting at once (a copy's
    workers, a sync daemon and the tool that spawned it) can both run `CREATE TABLE IF NOT
    EXISTS`, and PostgreSQL then refuses the slower one on its catalog's unique index; the
    table is there either way, so that refusal is not an error."""
    try:
        backend.execute([statement])
    except DatabaseError:
        if backend.inspect(tables=[name]).table(name) is None:
            raise


def state_record(**fields: Any) -> dict[str, Any]:
    """A full state row (missing fields None / 0)."""
    base: dict[str, Any] = dict.fromkeys(STATE_COLUMNS)
    base.update(rows=0, attempts=0)
    base.update(fields)
    return base


class SQLCopyState(CopyStateStore):
    """The state table on a SQL target, through the backend's transaction door."""

    def __init__(self, backend: Any, name: str) -> None:
        self.b = backend
        self.name = name
        self.q = backend.quote_identifier(name)

    def ensure(self) -> None:
        b = self.b
        cols = (
            "run_id VARCHAR(64) NOT NULL, tbl VARCHAR(255) NOT NULL, part INTEGER NOT NULL, "
            "lo TEXT, hi TEXT, status VARCHAR(16) NOT NULL, rows BIGINT NOT NULL, "
            "checksum VARCHAR(64), attempts INTEGER NOT NULL, fingerprint VARCHAR(64), info TEXT"
        )
        cols = cols.replace("rows BIGINT", f"{b.quote_identifier('rows')} BIGINT")
        create_state_table(
            b,
            self.name,
            f"CREATE TABLE IF NOT EXISTS {self.q} ({cols}, PRIMARY KEY (run_id, tbl, part))",
        )

    def rows(self, run_id: str | None = None) -> list[dict[str, Any]]:
        names = ", ".join(self.b.quote_identifier(c) for c in STATE_COLUMNS)
        sql = f"SELECT {names} FROM {self.q}"
        params: tuple[Any, ...] = ()
        if run_id is not None:
            sql += f" WHERE run_id = {self.b.placeholder}"
            params = (run_id,)
        return [
            _decode(dict(zip(STATE_COLUMNS, r, strict=True))) for r in self.b.fetch(sql, params)
        ]

    def put(self, records: Sequence[Mapping[str, Any]]) -> None:
        self.b.execute(state_statements(self.b, self.name, records))

    def drop_run(self, run_id: str) -> None:
        b = self.b
        others = b.fetch(
            f"SELECT 1 FROM {self.q} WHERE run_id <> {b.placeholder} LIMIT 1", (run_id,)
        )
        if others:
            b.execute([(f"DELETE FROM {self.q} WHERE run_id = {b.placeholder}", (run_id,))])
        else:
            b.execute([f"DROP TABLE {self.q}"])  # one statement: no empty table left behind


def _decode(rec: dict[str, Any]) -> dict[str, Any]:
    for k in ("lo", "hi", "info"):
        if rec.get(k) is not None:
            rec[k] = json.loads(rec[k])
    rec["rows"] = int(rec["rows"] or 0)
    rec["attempts"] = int(rec["attempts"] or 0)
    rec["part"] = int(rec["part"])
    return rec


def state_statements(
    backend: Any, name: str, records: Sequence[Mapping[str, Any]]
) -> list[tuple[str, tuple[Any, ...]]]:
    """DELETE + INSERT of each record (an upsert every SQL dialect spells the same way)."""
    q, mark = backend.quote_identifier(name), backend.placeholder
    names = ", ".join(backend.quote_identifier(c) for c in STATE_COLUMNS)
    marks = ", ".join([mark] * len(STATE_COLUMNS))
    out: list[tuple[str, tuple[Any, ...]]] = []
    for rec in records:
        full = state_record(**rec)
        values = tuple(
            json.dumps(full[c], default=str)
            if c in ("lo", "hi", "info") and full[c] is not None
            else full[c]
            for c in STATE_COLUMNS
        )
        where = f"run_id = {mark} AND tbl = {mark} AND part = {mark}"
        out.append((f"DELETE FROM {q} WHERE {where}", (full["run_id"], full["tbl"], full["part"])))
        out.append((f"INSERT INTO {q} ({names}) VALUES ({marks})", values))
    return out
