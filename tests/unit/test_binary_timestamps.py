"""The timestamp dumper of binary COPY of rows (`db/postgres/binary_rows.py`): the bytes it packs
must be exactly those psycopg's own timestamp dumper packs for the same instant, and any
spelling PostgreSQL could read differently must be refused (the batch then goes as text)."""

from __future__ import annotations

import datetime as dt

import pytest
from psycopg.types.datetime import DatetimeNoTzBinaryDumper

from datamigration.db.postgres.binary_rows import TimestampBinaryDumper

_THEIRS = DatetimeNoTzBinaryDumper(dt.datetime)
_OURS = TimestampBinaryDumper(dt.datetime)


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-05 13:45:12",
        "2024-01-05T13:45:12",
        "1999-12-31 23:59:59",
        "1970-01-01 00:00:00",
        "1850-03-01 00:00:01",
        "2024-02-29 08:00",
        "2024-02-29",
        "2024-02-29 08:00:00.5",
        "2024-02-29 08:00:00.123456",
    ],
)
def test_plain_iso_text_packs_to_the_same_bytes_as_the_datetime_it_names(text: str) -> None:
    expected = bytes(_THEIRS.dump(dt.datetime.fromisoformat(text)))
    assert _OURS.dump(text) == expected
    assert _OURS.dump(dt.datetime.fromisoformat(text)) == expected


def test_a_date_packs_as_its_midnight() -> None:
    assert _OURS.dump(dt.date(2024, 3, 1)) == bytes(_THEIRS.dump(dt.datetime(2024, 3, 1)))


@pytest.mark.parametrize(
    "value",
    [
        "２０２４-01-05 13:45:12",  # digits of another script
        "2024-01-05 13:45:1２",
        "2024-01-05 13:45:12+02",
        "2024-01-05 13:45:12Z",
        "2024-01-05 13",
        "20240105",
        "Jan 5 2024",
        "2024-01-05 13:45:12.1234567",
        "2024-01-05 24:00:00",
        dt.datetime(2024, 1, 5, tzinfo=dt.UTC),
        12,
    ],
)
def test_a_spelling_postgresql_may_read_differently_is_refused(value: object) -> None:
    with pytest.raises(ValueError):
        _OURS.dump(value)
