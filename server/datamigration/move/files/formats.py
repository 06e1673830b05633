"""One writer and one reader per export file format, registered by name.

Every writer takes a binary file (the exporter's temporary file, renamed when complete) and the
table's columns, and is fed batches of rows; every reader yields batches of rows, in the
columns' order, with values as the source's driver gave them. Memory stays at one batch.

* ``parquet``: zstd, one row group per batch, an Arrow schema from the type map
  (`columns.arrow_type`), NOT NULL columns as non-nullable fields, each field's source type in
  its metadata and the table's in the schema metadata.
* ``csv``: gzip, a header row, NULL as ``\\N`` (a value starting with a backslash gets one
  more), values in their text form (`FileColumn.encode`).
* ``jsonl``: gzip, one JSON object per row, values in their JSON form.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from datamigration.errors import FileFormatError, UserInputError
from datamigration.move.files.columns import FileColumn, arrow_value

Row = tuple[Any, ...]
NULL_TEXT = "\\N"
#: metadata keys in the Parquet file
SOURCE_TYPE_KEY = b"datamigration.source_type"
TABLE_KEY = b"datamigration.table"


class UnconvertibleValueError(UserInputError):
    """A value the chosen file type of its column cannot hold (SQLite's loose typing)."""

    default_hint = (
        "Export this table as JSONL or CSV (format jsonl / --format jsonl), which keep values "
        "as the source stored them, or fix the values in the source."
    )


class TableWriter:
    """Writes one table's rows into an open binary file."""

    def __init__(self, fh: BinaryIO, table: str, columns: Sequence[FileColumn]) -> None:
        self.fh = fh
        self.table = table
        self.columns = tuple(columns)

    def write(self, rows: Sequence[Row]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def file_types(self) -> list[str]:
        """How each column is stored (the manifest's `file_type`)."""
        return ["text" for _ in self.columns]


# --- Parquet --------------------------------------------------------------------------------


class ParquetTableWriter(TableWriter):
    def __init__(self, fh: BinaryIO, table: str, columns: Sequence[FileColumn]) -> None:
        super().__init__(fh, table, columns)
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        fields = [
            pa.field(
                c.name,
                c.arrow_type(),
                nullable=c.nullable,
                metadata={SOURCE_TYPE_KEY: c.source_type.encode()},
            )
            for c in self.columns
        ]
        self.schema = pa.schema(fields, metadata={TABLE_KEY: table.encode()})
        self.writer = pq.ParquetWriter(fh, self.schema, compression="zstd")

    def file_types(self) -> list[str]:
        return [str(f.type) for f in self.schema]

    def _array(self, values: Sequence[Any], col: FileColumn, field: Any) -> Any:
        pa = self.pa
        try:
            return pa.array(values, type=field.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
            pass
        try:
            return pa.array([arrow_value(v, field.type) for v in values], type=field.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as exc:
            raise UnconvertibleValueError(
                f"{self.table}.{col.name} ({col.source_type}) holds a value Parquet type "
                f"{field.type} cannot keep: {exc}",
                table=self.table,
                column=col.name,
            ) from None

    def write(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        by_column = list(zip(*rows, strict=True))
        arrays = [
            self._array(values, col, field)
            for values, col, field in zip(by_column, self.columns, self.schema, strict=True)
        ]
        self.writer.write_table(self.pa.Table.from_arrays(arrays, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


def read_parquet(path: Path, columns: Sequence[FileColumn], batch_size: int) -> Iterator[list[Row]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    names = [c.name for c in columns]
    have = pf.schema_arrow.names
    if have != names:
        raise FileFormatError(
            f"{path.name}: columns {have} do not match the manifest's {names}",
            hint="The file does not belong to this manifest; export the table again.",
            path=str(path),
        )
    text_at = [i for i, f in enumerate(pf.schema_arrow) if pa.types.is_string(f.type)]
    for batch in pf.iter_batches(batch_size=batch_size):
        values = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        for i in text_at:
            col = columns[i]
            values[i] = [col.decode(v) for v in values[i]]
        yield list(zip(*values, strict=True))


# --- CSV and JSONL (gzip) -------------------------------------------------------------------


def _text_of(value: Any) -> str:
    if value is None:
        return NULL_TEXT
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    text = value if isinstance(value, str) else str(value)
    return "\\" + text if text.startswith("\\") else text


def _value_of(text: str) -> str | None:
    if text == NULL_TEXT:
        return None
    return text.removeprefix("\\")


class _GzipText(TableWriter):
    def __init__(self, fh: BinaryIO, table: str, columns: Sequence[FileColumn]) -> None:
        super().__init__(fh, table, columns)
        self.gz = gzip.GzipFile(fileobj=fh, mode="wb", compresslevel=6, mtime=0)
        self.text = io.TextIOWrapper(self.gz, encoding="utf-8", newline="")

    def close(self) -> None:
        self.text.flush()
        self.text.detach()
        self.gz.close()


class CsvTableWriter(_GzipText):
    def __init__(self, fh: BinaryIO, table: str, columns: Sequence[FileColumn]) -> None:
        super().__init__(fh, table, columns)
        self.csv = csv.writer(self.text, lineterminator="\n")
        self.csv.writerow([c.name for c in self.columns])

    def write(self, rows: Sequence[Row]) -> None:
        cols = self.columns
        self.csv.writerows(
            [_text_of(c.encode(v)) for v, c in zip(row, cols, strict=True)] for row in rows
        )


class JsonlTableWriter(_GzipText):
    def write(self, rows: Sequence[Row]) -> None:
        names = [c.name for c in self.columns]
        cols = self.columns
        for row in rows:
            obj = {n: c.encode(v) for n, v, c in zip(names, row, cols, strict=True)}
            self.text.write(json.dumps(obj, ensure_ascii=False, allow_nan=False) + "\n")


def _batches(items: Iterator[Row], size: int) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


#: the csv module refuses fields over 128 KiB by default; a text or bytes value may be larger
CSV_FIELD_LIMIT = 2**31 - 1


def read_csv(path: Path, columns: Sequence[FileColumn], batch_size: int) -> Iterator[list[Row]]:
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        names = [c.name for c in columns]
        if header != names:
            raise FileFormatError(
                f"{path.name}: header {header} does not match the manifest's columns {names}",
                hint="The file does not belong to this manifest; export the table again.",
                path=str(path),
            )
        rows = (
            tuple(c.decode(_value_of(t)) for t, c in zip(fields, columns, strict=True))
            for fields in reader
        )
        yield from _batches(rows, batch_size)


def read_jsonl(path: Path, columns: Sequence[FileColumn], batch_size: int) -> Iterator[list[Row]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = (
            tuple(c.decode(obj.get(c.name)) for c in columns)
            for obj in (json.loads(line) for line in fh if line.strip())
        )
        yield from _batches(rows, batch_size)


@dataclass(frozen=True)
class FileFormat:
    name: str
    suffix: str
    compression: str
    writer: Callable[[BinaryIO, str, Sequence[FileColumn]], TableWriter]
    reader: Callable[[Path, Sequence[FileColumn], int], Iterator[list[Row]]]


FORMATS: dict[str, FileFormat] = {
    f.name: f
    for f in (
        FileFormat("parquet", ".parquet", "zstd", ParquetTableWriter, read_parquet),
        FileFormat("csv", ".csv.gz", "gzip", CsvTableWriter, read_csv),
        FileFormat("jsonl", ".jsonl.gz", "gzip", JsonlTableWriter, read_jsonl),
    )
}


def file_format(name: str) -> FileFormat:
    found = FORMATS.get(name)
    if found is None:
        raise UserInputError(
            f"unknown export format {name!r}", hint="Use one of: " + ", ".join(FORMATS)
        )
    return found
