"""Applying captured changes to the target, idempotently, in commit order.

A batch of `ChangeEvent`s becomes a list of steps (`plan_batch`): events at or before the
run's last applied position are dropped (a replay after a crash), the rest are taken in
position order (a duplicate position once), an update that changes the key becomes a delete
of the old key and an upsert of the new one, and per key only the newest change is kept: an
upsert keeps the place of the key's first change in the batch (so a parent row still comes
before the children inserted after it), a delete the place of its last (so children are
deleted before their parent). A truncate drops the table's earlier steps.

On a SQL target each step is one statement (the dialect's upsert, an UPDATE of the columns
present when the source did not send some (`UNAVAILABLE`), a DELETE by key, the table's
truncate statement); the statements and the sync state row's new position commit in one
transaction through `Backend.execute`, so the target holds a batch and its position or
neither. A MongoDB target goes through `apply_documents`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from datamigration.db.change_events import UNAVAILABLE, ChangeEvent, Position
from datamigration.errors import UserInputError


@dataclass(frozen=True)
class Step:
    kind: str  # upsert | delete | truncate
    table: str
    key: Mapping[str, Any]
    row: Mapping[str, Any] | None
    position: Position

    @property
    def missing(self) -> tuple[str, ...]:
        """Columns the source did not send (left as they are on the target)."""
        return tuple(c for c, v in (self.row or {}).items() if v == UNAVAILABLE)


@dataclass(frozen=True)
class BatchResult:
    events: int  # events newer than the last applied position
    steps: int  # what reached the target after keeping the newest change per key
    position: Position | None  # the run's position after this batch


def _key_tuple(key: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((k, repr(v)) for k, v in key.items()))


def _expand(event: ChangeEvent) -> list[Step]:
    pos, table = event.position, event.table
    if event.op == "t":
        return [Step("truncate", table, {}, None, pos)]
    if event.op == "d":
        return [Step("delete", table, dict(event.key), None, pos)]
    if event.after is None:
        raise UserInputError(
            f"a {event.op!r} change of {table} at {list(pos)} has no row after it",
            hint="Inserts and updates carry the new row (Debezium's after).",
        )
    key = {k: event.after.get(k, v) for k, v in event.key.items()}
    steps = []
    before = event.before or {}
    if all(k in before for k in key) and any(before[k] != key[k] for k in key):
        steps.append(Step("delete", table, {k: before[k] for k in key}, None, pos))
    steps.append(Step("upsert", table, key, dict(event.after), pos))
    return steps


def _merged(old: Step, new: Step) -> Step:
    """The newer upsert, with columns it did not send taken from the older one."""
    row = dict(new.row or {})
    for column in new.missing:
        if old.row is not None and old.row.get(column, UNAVAILABLE) != UNAVAILABLE:
            row[column] = old.row[column]
    return Step("upsert", new.table, new.key, row, new.position)


def plan_batch(events: Iterable[ChangeEvent], after: Position | None) -> tuple[list[Step], int]:
    """(steps to apply, how many events were newer than `after`) — see the module docstring."""
    fresh: dict[Position, ChangeEvent] = {}
    for e in events:
        if (after is None or tuple(e.position) > tuple(after)) and e.position not in fresh:
            fresh[tuple(e.position)] = e
    slots: list[Step | None] = []
    where: dict[tuple[str, tuple[Any, ...]], int] = {}
    for pos in sorted(fresh):
        for step in _expand(fresh[pos]):
            if step.kind == "truncate":
                for k in [k for k in where if k[0] == step.table]:
                    slots[where.pop(k)] = None
                slots.append(step)
                continue
            ident = (step.table, _key_tuple(step.key))
            at = where.get(ident)
            old = slots[at] if at is not None else None
            if old is not None and step.kind == "upsert":
                slots[at] = _merged(old, step) if old.kind == "upsert" else step  # type: ignore[index]
                continue
            if at is not None:
                slots[at] = None
            where[ident] = len(slots)
            slots.append(step)
    return [s for s in slots if s is not None], len(fresh)


def last_position(events: Sequence[ChangeEvent], after: Position | None) -> Position | None:
    top = max((tuple(e.position) for e in events), default=None)
    if top is None or (after is not None and top <= tuple(after)):
        return after
    return top  # type: ignore[return-value]


def _shape(step: Step) -> tuple[str, str, tuple[str, ...]] | None:
    """What lets upserts or deletes share one statement (None: this step goes alone)."""
    if step.kind == "delete":
        return ("delete", step.table, tuple(step.key))
    if step.kind != "upsert" or step.missing:
        return None
    return ("upsert", step.table, tuple(step.row or {}))


class Applier:
    """One batch at a time: plan the steps, then `write` them with the run's new position."""

    def apply(
        self, run_id: str, events: Sequence[ChangeEvent], after: Position | None, applied: int
    ) -> BatchResult:
        steps, count = plan_batch(events, after)
        position = last_position(events, after)
        if not count:
            return BatchResult(0, 0, after)
        assert position is not None
        self.write(run_id, steps, position, applied + count)
        return BatchResult(count, len(steps), position)

    def write(self, run_id: str, steps: list[Step], position: Position, applied: int) -> None:
        raise NotImplementedError


class SQLApplier(Applier):
    """Changes to a SQL target: the batch and the state row in one transaction."""

    #: parameters one statement may carry (SQLite's oldest limit is 999)
    MAX_PARAMS = 900

    def __init__(self, target: Any, store: Any) -> None:
        self.b = target
        self.store = store
        self.types: dict[str, dict[str, str]] = {}
        self.adapters: dict[tuple[str, tuple[str, ...]], Any] = {}
        # replayed changes from before the snapshot can meet a parent the snapshot no longer
        # has: foreign key checks are suspended for the applier's session (MariaDB, SQLite, as
        # the copy's load does) or its batches (PostgreSQL's replica role, `apply_prefix`);
        # the target is consistent again once caught up
        target.before_load()

    def _types(self, table: str) -> dict[str, str]:
        if table not in self.types:
            found = self.b.inspect(tables=[table]).table(table)
            if found is None:
                raise UserInputError(
                    f"table {table} is not on the target {self.b.label}",
                    hint="Start the sync with its snapshot copy (it creates the tables), or "
                    "create the table on the target first.",
                    table=table,
                )
            self.types[table] = {c.name: c.data_type.lower() for c in found.columns}
        return self.types[table]

    def _row(self, table: str, columns: Sequence[str], row: Mapping[str, Any]) -> tuple:
        at = (table, tuple(columns))
        if at not in self.adapters:
            types = self._types(table)
            kinds = [types.get(c, "") for c in columns]
            self.adapters[at] = self.b.value_adapter(table, columns, kinds)
        return tuple(self.adapters[at]([row[c] for c in columns]))

    def statement(self, step: Step) -> Any:
        b, table = self.b, step.table
        key = list(step.key)
        if step.kind == "truncate":
            return b.truncate_statements([table])[0]
        if step.kind == "delete":
            return (b.delete_sql(table, key), self._row(table, key, step.key))
        row = step.row or {}
        missing = set(step.missing)
        columns = [c for c in row if c not in missing]
        if missing:
            sets = [c for c in columns if c not in step.key] or key[:1]
            params = self._row(table, sets, row) + self._row(table, key, step.key)
            return (b.update_sql(table, sets, key), params)
        return (b.upsert_sql(table, columns, key), self._row(table, columns, row))

    def _grouped(self, run: list[Step]) -> list[Any]:
        """Consecutive upserts (or deletes) of one table with the same columns as multi-row
        statements (a batch holds each key once, so no statement touches a row twice)."""
        table, key = run[0].table, list(run[0].key)
        deleting = run[0].kind == "delete"
        columns = key if deleting else list(run[0].row or {})
        per = max(1, self.MAX_PARAMS // max(1, len(columns)))
        out = []
        for i in range(0, len(run), per):
            part = run[i : i + per]
            values = [s.key if deleting else (s.row or {}) for s in part]
            params = tuple(v for row in values for v in self._row(table, columns, row))
            sql = (
                self.b.delete_sql(table, key, rows=len(part))
                if deleting
                else self.b.upsert_sql(table, columns, key, rows=len(part))
            )
            out.append((sql, params))
        return out

    def statements(self, steps: list[Step]) -> list[Any]:
        out: list[Any] = []
        i = 0
        while i < len(steps):
            j, shape = i + 1, _shape(steps[i])
            while shape is not None and j < len(steps) and _shape(steps[j]) == shape:
                j += 1
            out += self._grouped(steps[i:j]) if shape is not None else [self.statement(steps[i])]
            i = j
        return out

    def write(self, run_id: str, steps: list[Step], position: Position, applied: int) -> None:
        statements = [*self.b.apply_prefix(), *self.statements(steps)]
        statements.append(self.store.advance_statement(run_id, position, applied))
        self.b.execute(statements)
