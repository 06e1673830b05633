"""Reading recorded Debezium events (tests/fixtures/debezium/): the PostgreSQL connector's
`{schema, payload}` values with Kafka keys and the MySQL connector's binlog positions, logical
types read back into Python values, tombstones skipped, and a bad line named by its number."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
from pathlib import Path

import pytest

from datamigration.db.change_events import from_debezium, read_debezium_lines
from datamigration.errors import UserInputError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "debezium"


def test_postgres_connector_events_carry_lsn_positions_keys_and_typed_values() -> None:
    events = list(read_debezium_lines(FIXTURES / "postgres_users_orders.jsonl"))
    assert [e.op for e in events[:3]] == ["c", "c", "c"]
    assert [e.position for e in events] == sorted(e.position for e in events)
    first = events[0]
    assert first.key == {"id": 1} and first.tx_id == 701
    assert first.after["created_at"] == dt.datetime(2024, 3, 1, 10, 0, 0, 123000, tzinfo=dt.UTC)
    moved = events[8]
    assert (moved.before["id"], moved.after["id"], moved.key) == (12, 13, {"id": 13})


def test_mysql_connector_events_order_by_binlog_file_and_position() -> None:
    events = list(read_debezium_lines(FIXTURES / "mysql_users.jsonl"))
    assert [e.position[0] >> 40 for e in events] == [3, 3, 3, 3]
    assert [e.position[0] & ((1 << 40) - 1) for e in events] == [1856, 2167, 2478, 2789]
    assert events[0].after["created_at"] == dt.datetime(2024, 3, 1, 10, 0, 0, 123000)
    assert events[-1].op == "d" and events[-1].key == {"id": 7}


def test_a_connect_decimal_reads_back_exactly() -> None:
    raw = base64.b64encode((-1234567).to_bytes(4, "big", signed=True)).decode()
    field = {"field": "amount", "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal",
             "parameters": {"scale": "2"}}  # fmt: skip
    schema = {"fields": [{"field": "after", "fields": [field]}]}
    payload = {"op": "c", "after": {"amount": raw}, "before": None,
               "source": {"table": "t", "lsn": 5}}  # fmt: skip
    event = from_debezium({"schema": schema, "payload": payload}, key={"id": 1})
    assert event.after["amount"] == decimal.Decimal("-12345.67")


def test_tombstones_are_skipped_and_a_bad_line_is_named_by_its_number(tmp_path: Path) -> None:
    lines = (FIXTURES / "mysql_users.jsonl").read_text().splitlines()
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([lines[0], json.dumps({"key": {"id": 7}, "value": None}), lines[1]]))
    assert len(list(read_debezium_lines(path))) == 2
    for bad in ('{"op": "x"}', "[1, 2]", "{not json", '{"op": "c", "source": {}}'):
        path.write_text("\n".join([lines[0], bad]))
        with pytest.raises(UserInputError, match=r"events\.jsonl:2"):
            list(read_debezium_lines(path))
