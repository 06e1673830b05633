"""Export files without a database: each kind's text form reads back to the same value, the
Arrow types keep width, precision and time zones, and the manifest's checks refuse what they
should."""

from __future__ import annotations

import datetime as dt
import decimal
import errno
import io
import json
import math
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from datamigration.atomic import atomic_stream
from datamigration.errors import FileFormatError
from datamigration.move.files import manifest as mf
from datamigration.move.files.columns import FileColumn
from datamigration.move.files.export import no_room
from datamigration.move.files.formats import FORMATS
from datamigration.move.files.rowsum import RowChecksum, column_kinds

UTC = dt.UTC


def col(name: str, spelling: str, dialect: str = "postgresql", nullable: bool = True):
    return FileColumn.of(SimpleNamespace(name=name, data_type=spelling, nullable=nullable), dialect)


COLUMNS = [
    col("id", "bigint", nullable=False),
    col("small", "smallint"),
    col("f4", "real"),
    col("f8", "double precision"),
    col("money", "numeric(12,2)"),
    col("huge", "numeric"),
    col("ok", "boolean"),
    col("at", "timestamp with time zone"),
    col("naive", "timestamp(3) without time zone"),
    col("day", "date"),
    col("clock", "time without time zone"),
    col("span", "interval"),
    col("raw", "bytea"),
    col("doc", "jsonb"),
    col("tag", "uuid"),
    col("ints", "integer[]"),
    col("note", "text"),
]
ROWS = [
    (
        1, 7, 0.5, 1 / 3, decimal.Decimal("12.30"), decimal.Decimal("1e40") + 1, True,
        dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), dt.datetime(2024, 5, 6, 7, 8, 9),
        dt.date(1999, 12, 31), dt.time(23, 59, 58, 5), dt.timedelta(days=3, microseconds=7),
        b"\x00\xff", '{"a": [1, 2]}', str(uuid.UUID(int=5)), [1, None, 3], "\\N",
    ),
    (2,) + (None,) * 15 + ("\\back, \"quoted\"\nline",),
    (3, 0, float("inf"), float("nan"), decimal.Decimal("-0.01"), decimal.Decimal(0), False,
     None, None, None, None, dt.timedelta(seconds=-1), b"", "null", None, [], ""),
]  # fmt: skip


def _same(a: tuple, b: tuple) -> bool:
    def norm(v):
        if isinstance(v, float) and math.isnan(v):
            return "nan"
        return v

    return [norm(x) for x in a] == [norm(x) for x in b]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_every_format_reads_back_the_values_it_wrote(fmt: str, tmp_path: Path) -> None:
    f = FORMATS[fmt]
    path = tmp_path / f"t{f.suffix}"
    with path.open("wb") as fh:
        writer = f.writer(fh, "t", COLUMNS)
        writer.write(ROWS[:2])
        writer.write(ROWS[2:])
        writer.close()
    back = [row for batch in f.reader(path, COLUMNS, 2) for row in batch]
    assert len(back) == 3
    for wrote, got in zip(ROWS, back, strict=True):
        assert _same(wrote, got), (wrote, got)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_value_larger_than_the_csv_modules_default_field_limit_reads_back(
    fmt: str, tmp_path: Path
) -> None:
    f = FORMATS[fmt]
    columns = [col("id", "bigint", nullable=False), col("raw", "bytea"), col("note", "text")]
    row = (1, bytes(range(256)) * 2000, "x" * 300_000)
    path = tmp_path / f"t{f.suffix}"
    with path.open("wb") as fh:
        writer = f.writer(fh, "t", columns)
        writer.write([row])
        writer.close()
    assert [r for batch in f.reader(path, columns, 10) for r in batch] == [row]


def test_the_arrow_types_keep_width_precision_sign_and_time_zones() -> None:
    types = {c.name: str(c.arrow_type()) for c in COLUMNS}
    assert types["small"] == "int16" and types["id"] == "int64"
    assert types["f4"] == "float" and types["f8"] == "double"
    assert types["money"] == "decimal128(12, 2)" and types["huge"] == "string"
    assert types["at"] == "timestamp[us, tz=UTC]" and types["naive"] == "timestamp[us]"
    assert types["span"] == "duration[us]" and types["ints"] == "list<item: int32>"
    assert str(col("u", "int unsigned", "mysql").arrow_type()) == "uint32"
    assert str(col("d", "decimal(60,10)", "mysql").arrow_type()) == "decimal256(60, 10)"


def test_the_row_checksum_ignores_row_order_and_sees_one_changed_value() -> None:
    kinds = column_kinds([c.source_type for c in COLUMNS], "postgresql")
    a, b, c = RowChecksum(kinds), RowChecksum(kinds), RowChecksum(kinds)
    a.add(ROWS)
    b.add(list(reversed(ROWS)))
    c.add([ROWS[0], ROWS[1], ROWS[2][:-1] + ("x",)])
    assert a.value == b.value != c.value and a.rows == 3


def _export_dir(tmp_path: Path) -> tuple[Path, dict]:
    data = tmp_path / "t.csv.gz"
    data.write_bytes(b"0123456789")
    manifest = {
        "manifest_version": 1,
        "tool": {"name": mf.TOOL, "version": "0"},
        "created_at": "2024-01-01T00:00:00+00:00",
        "source": {"url": "sqlite:///x.db", "dialect": "sqlite"},
        "format": "csv",
        "tables": [
            {
                "name": "t",
                "key": ["id"],
                "rows": 1,
                "checksum": {"algorithm": "a", "kinds": ["int"], "value": "0" * 16},
                "columns": [
                    {"name": "id", "source_type": "INTEGER", "nullable": False, "file_type": "t"}
                ],
                "files": [mf.file_entry(data, 1)],
            }
        ],
        "schema": {"dialect": "sqlite", "tables": []},
    }
    mf.write_manifest(tmp_path, manifest)
    return data, manifest


def test_a_written_manifest_loads_and_lists_sha256sum_lines(tmp_path: Path) -> None:
    _, manifest = _export_dir(tmp_path)
    assert mf.load_manifest(tmp_path) == manifest
    digest = manifest["tables"][0]["files"][0]["sha256"]
    assert (tmp_path / mf.SUMS).read_text() == f"{digest}  t.csv.gz\n"
    assert mf.verify_files(tmp_path, manifest["tables"])[0]["path"] == "t.csv.gz"


@pytest.mark.parametrize(
    ("damage", "words"),
    [(b"0123456780", "was altered"), (b"01234", "is truncated"), (None, "is missing")],
)
def test_a_damaged_file_is_named_in_the_refusal(
    damage: bytes | None, words: str, tmp_path: Path
) -> None:
    data, manifest = _export_dir(tmp_path)
    if damage is None:
        data.unlink()
    else:
        data.write_bytes(damage)
    with pytest.raises(mf.ExportDamagedError) as info:
        mf.verify_files(tmp_path, manifest["tables"])
    assert "t.csv.gz" in info.value.message and words in info.value.message


def test_a_manifest_with_a_path_outside_its_directory_is_refused(tmp_path: Path) -> None:
    _, manifest = _export_dir(tmp_path)
    manifest["tables"][0]["files"][0]["path"] = "../etc/passwd"
    (tmp_path / mf.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(FileFormatError, match="does not match"):
        mf.load_manifest(tmp_path)


def test_an_export_directory_with_a_manifest_is_never_overwritten(tmp_path: Path) -> None:
    _export_dir(tmp_path)
    with pytest.raises(Exception, match="never overwrites"):
        mf.refuse_existing(tmp_path)


def test_a_failed_stream_leaves_neither_the_file_nor_its_temporary(tmp_path: Path) -> None:
    target = tmp_path / "t.parquet"
    with pytest.raises(OSError), atomic_stream(target) as fh:
        fh.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []
    with atomic_stream(target) as fh:
        fh.write(b"whole")
    assert target.read_bytes() == b"whole" and list(tmp_path.iterdir()) == [target]


def test_no_room_is_recognised_through_wrapping_errors() -> None:
    inner = OSError(errno.EFBIG, "File too large")
    outer = RuntimeError("writer failed")
    outer.__cause__ = inner
    assert no_room(outer) and no_room(OSError(errno.ENOSPC, "x"))
    assert not no_room(OSError(errno.EACCES, "Permission denied"))
    assert not no_room(ValueError(io.UnsupportedOperation.__name__))


def test_a_value_that_does_not_read_as_its_type_is_kept_as_written() -> None:
    number, day = col("n", "INTEGER", "sqlite"), col("d", "DATE", "sqlite")
    assert number.decode(number.encode("abc")) == "abc"
    assert day.decode(day.encode("not a date")) == "not a date"
    assert number.decode(number.encode(7)) == 7
