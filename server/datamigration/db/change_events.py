"""One change-event shape for every capture: Debezium's envelope, as plain data.

Why Debezium's shape: a team that outgrows one machine can run Debezium and Kafka Connect as
the capture tier and feed the same applier, and a team that already consumes Debezium topics
can read what our captures produce. Every capture (PostgreSQL logical decoding, triggers on
PostgreSQL/MySQL/SQLite, the MySQL binlog) yields `ChangeEvent`s; the applier
(`move/sync/apply.py`); it lives in `db/` because the captures, which are database code, produce it takes nothing else.

Ordering: a capture yields events in commit order. `position` is a pair (commit position,
index inside the transaction), so it grows strictly along the stream even when transactions
interleave on the source (PostgreSQL: the commit LSN as an integer, then the change's index in
its transaction; a trigger change table: (batch the reader stamped, 2 * change id + 1), see
db/trigger_capture.py; the MySQL binlog: (file number << 40 | commit end offset, index)). The
applier keeps the newest position per key, so replaying a batch is harmless; the capture is
acknowledged up to a position only after the target holds everything before it.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datamigration.errors import UserInputError

#: Debezium's operation letters: create, update, delete, snapshot read, truncate
OPS = frozenset({"c", "u", "d", "r", "t"})

#: a column whose value the source did not send (PostgreSQL: an unchanged TOASTed value when
#: the table's REPLICA IDENTITY is not FULL); the applier leaves such a column as it is.
#: The text is Debezium's, so recorded Debezium events mean the same thing here.
UNAVAILABLE = "__debezium_unavailable_value"

Position = tuple[int, int]


@dataclass(frozen=True)
class ChangeEvent:
    """One row change. `key` holds the key columns (from `after`, or `before` for a delete);
    `before` is None for inserts (and for updates when the source does not send the old row);
    `after` is None for deletes and truncates."""

    op: str
    table: str
    key: Mapping[str, Any]
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    position: Position
    commit_ts_ms: int | None = None
    tx_id: int | None = None
    source: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise UserInputError(
                f"change event for {self.table!r} has op {self.op!r}",
                hint="An event's op is one of c, u, d, r, t (Debezium's letters).",
            )


def to_debezium(event: ChangeEvent, *, connector: str = "datamigration") -> dict[str, Any]:
    """The event as a Debezium value payload (schemas off): before, after, op, ts_ms, source."""
    source = {
        "connector": connector,
        "table": event.table,
        "ts_ms": event.commit_ts_ms,
        "txId": event.tx_id,
        "position": list(event.position),
        "snapshot": "true" if event.op == "r" else "false",
        **dict(event.source),
    }
    return {
        "before": _plain(event.before),
        "after": _plain(event.after),
        "op": event.op,
        "ts_ms": int(time.time() * 1000),
        "source": source,
        "key": _plain(event.key),
    }


def _plain(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if row is None else dict(row)


def from_debezium(
    value: Mapping[str, Any],
    *,
    key: Mapping[str, Any] | None = None,
    key_columns: Iterable[str] | None = None,
    index: int = 0,
) -> ChangeEvent:
    """A Debezium value (with `{schema, payload}` or the bare payload) as a ChangeEvent.

    The key comes from `key` (the record key, itself `{schema, payload}` or bare), else from
    the payload's own `key` field, else from `key_columns` picked out of after/before.
    The position is the source's (`lsn` for PostgreSQL, binlog `file`+`pos` for MySQL,
    `position` when we wrote it), with `index` as its second part."""
    payload = value.get("payload", value) if "op" not in value else value
    if not isinstance(payload, Mapping) or payload.get("op") not in OPS:
        raise UserInputError(
            "not a Debezium change event (no op among c, u, d, r, t)",
            hint="Give one JSON object per line: a Debezium value with before/after/op/source.",
        )
    source = dict(payload.get("source") or {})
    before, after = payload.get("before"), payload.get("after")
    if payload is not value and isinstance(value.get("schema"), Mapping):
        before, after = (_typed(row, value["schema"], side) for row, side in
                         ((before, "before"), (after, "after")))  # fmt: skip
    table = str(source.get("table") or "")
    if not table:
        raise UserInputError(
            "Debezium event without source.table", hint="Each event must name its table."
        )
    found = _key_of(payload, key, key_columns, before, after)
    return ChangeEvent(
        op=str(payload["op"]),
        table=table,
        key=found,
        before=before,
        after=after,
        position=_position_of(source, index),
        commit_ts_ms=source.get("ts_ms"),
        tx_id=source.get("txId"),
        source=source,
    )


#: Debezium's logical types (the field schema's `name`) read back into Python values
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_LOGICAL: dict[str, Callable[[Any, Mapping[str, Any]], Any]] = {
    "io.debezium.time.Date": lambda v, p: (_EPOCH + dt.timedelta(days=v)).date(),
    "org.apache.kafka.connect.data.Date": lambda v, p: (_EPOCH + dt.timedelta(days=v)).date(),
    "io.debezium.time.Timestamp": lambda v, p: (_EPOCH + dt.timedelta(milliseconds=v)).replace(
        tzinfo=None
    ),
    "io.debezium.time.MicroTimestamp": lambda v, p: (_EPOCH + dt.timedelta(microseconds=v)).replace(
        tzinfo=None
    ),
    "io.debezium.time.ZonedTimestamp": lambda v, p: dt.datetime.fromisoformat(v),
    "io.debezium.time.MicroTime": lambda v, p: (
        dt.datetime.min + dt.timedelta(microseconds=v)
    ).time(),
    "org.apache.kafka.connect.data.Decimal": lambda v, p: decimal.Decimal(
        int.from_bytes(base64.b64decode(v), "big", signed=True)
    ).scaleb(-int(p.get("scale", 0))),
    "io.debezium.data.Json": lambda v, p: json.loads(v),
    "io.debezium.data.Uuid": lambda v, p: uuid.UUID(v),
}


def _typed(
    row: Mapping[str, Any] | None, schema: Mapping[str, Any], side: str
) -> dict[str, Any] | None:
    """A row with Debezium's encodings (epoch numbers, base64 decimals, JSON text) read back
    into the values the copy engine's readers produce, by the envelope's field schemas;
    the `UNAVAILABLE` marker stays as it is."""
    if row is None:
        return None
    part = next((f for f in schema.get("fields") or [] if f.get("field") == side), {})
    kinds = {f.get("field"): f for f in part.get("fields") or []}
    out = dict(row)
    for column, value in row.items():
        spec = kinds.get(column) or {}
        read = _LOGICAL.get(str(spec.get("name")))
        if read is not None and value is not None and value != UNAVAILABLE:
            try:
                out[column] = read(value, spec.get("parameters") or {})
            except (ValueError, TypeError, ArithmeticError) as exc:
                raise UserInputError(
                    f"{column}: {value!r} is not a {spec.get('name')} ({exc})",
                    hint="The event's value does not match its own schema.",
                ) from None
    return out


def _key_of(
    payload: Mapping[str, Any],
    key: Mapping[str, Any] | None,
    key_columns: Iterable[str] | None,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> dict[str, Any]:
    if key is not None:
        body = key.get("payload", key) if "schema" in key else key
        return dict(body)
    if isinstance(payload.get("key"), Mapping):
        return dict(payload["key"])
    row = after if after is not None else before
    if key_columns is None or row is None:
        raise UserInputError(
            "Debezium event without a key",
            hint="Give the record key, or name the table's key columns (key_columns).",
        )
    return {c: row[c] for c in key_columns}


def _position_of(source: Mapping[str, Any], index: int) -> Position:
    if isinstance(source.get("position"), list | tuple) and len(source["position"]) == 2:
        first, second = source["position"]
        return (int(first), int(second))
    if source.get("lsn") is not None:
        return (int(source["lsn"]), index)
    if source.get("pos") is not None:
        return (_binlog_file_number(source.get("file")) << 40 | int(source["pos"]), index)
    raise UserInputError(
        "Debezium event without a source position (lsn, file/pos or position)",
        hint="Events are applied in source order; each needs its position.",
    )


def _binlog_file_number(name: Any) -> int:
    text = str(name or "")
    digits = text.rsplit(".", 1)[-1]
    return int(digits) if digits.isdigit() else 0


def read_debezium_lines(
    path: str | Path, *, key_columns: Mapping[str, Iterable[str]] | None = None
) -> Iterator[ChangeEvent]:
    """Events from a file of Debezium values, one JSON object per line (Kafka Connect's
    file sink, `kcat -e`, or our own `to_debezium` output). A line that is not an event is
    refused with its line number; nothing is applied from a half-read file by this reader
    (it yields lazily, so the caller decides)."""
    with Path(path).open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserInputError(
                    f"{path}:{number} is not JSON ({exc.msg})",
                    hint="Give one Debezium event (a JSON object) per line.",
                ) from exc
            value = obj.get("value", obj) if isinstance(obj, dict) else obj
            if value is None or (isinstance(value, dict) and value.get("payload", 0) is None):
                continue  # a tombstone (Kafka's delete marker after a delete event)
            if not isinstance(value, dict):
                raise UserInputError(
                    f"{path}:{number} is not a Debezium change event (not a JSON object)",
                    hint="Give one Debezium event (a JSON object) per line.",
                )
            record_key = obj.get("key") if isinstance(obj, dict) and "value" in obj else None
            table = ((value.get("payload", value) or {}).get("source") or {}).get("table")
            columns = (key_columns or {}).get(str(table)) if table else None
            try:
                event = from_debezium(value, key=record_key, key_columns=columns, index=number)
            except UserInputError as exc:
                raise UserInputError(f"{path}:{number}: {exc.message}", hint=exc.hint) from None
            yield event
