"""The partition worker: `copy_partition(request, partition)`, a pure function of its inputs.

It opens its own connections (one on the source, one on the target), so a thread, a process
or a Dask worker on another machine can run it: everything it needs is in the picklable
request and partition, and everything it leaves is on the target (the rows and the state row,
committed in one transaction where the target is transactional) plus the partition's rejects
file. Running it twice is safe: a retried partition (attempts > 0) replaces the rows it
meets instead of inserting them, and its first action is to count the attempt, so a partition
interrupted in any way is retried as a replacement.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from typing import Any

from datamigration.db.base import connect
from datamigration.move import mapped_copy
from datamigration.move.partitions import Partition
from datamigration.move.rejects import RejectFile
from datamigration.move.request import CopyRequest
from datamigration.workspace.root import Workspace


class RowRefusedError(Exception):
    """Strict mode: the first refused row stops the run (raised as CopyFailedError)."""


@dataclass(frozen=True)
class PartitionResult:
    table: str
    index: int
    rows: int
    rejected: int
    checksum: str
    seconds: float
    #: how the rows travelled: "raw" (the shared byte format, e.g. binary COPY), "stream"
    #: (rows in one load, `write_stream`) or "rows" (batch by batch)
    mode: str = "rows"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _copy_rows(
    request: CopyRequest, part: Partition, src: Any, writer: Any, rejects: RejectFile
) -> tuple[int, int]:
    """Keyset batches through the writer; refused rows to the rejects file (or stop)."""
    rows, crc = 0, 0
    key_at = [part.columns.index(k) for k in part.key]
    batches = src.read_range(
        part.table, part.columns, part.key, part.lo, part.hi, request.batch_size
    )
    for batch in batches:
        refused = writer.write(batch, replace=part.attempts > 0)
        for r in refused:
            key = [r.row[i] for i in key_at]
            if request.strict:
                raise RowRefusedError(
                    f"{part.table}: the target refused the row with key {key}: {r.error}"
                )
            rejects.add(key, r.error, part.columns, r.row)
        rows += len(batch) - len(refused)
        crc = _batch_crc(batch, crc)
    return rows, crc


def _batch_crc(batch: Any, crc: int) -> int:
    """The partition's running checksum after one batch (its size and its last row)."""
    return zlib.crc32(repr(batch[-1]).encode(), crc ^ len(batch)) if batch else crc


def _crc_of(chunks: Any, out: list[int]) -> Any:
    for chunk in chunks:
        out[0] = zlib.crc32(chunk, out[0])
        yield chunk


def _crc_of_batches(batches: Any, out: list[int]) -> Any:
    for batch in batches:
        out[0] = _batch_crc(batch, out[0])
        yield batch


def _stream_rows(request: CopyRequest, part: Partition, src: Any, writer: Any) -> Any:
    """A first attempt's rows in one go (`BulkWriter.write_stream`): (rows, checksum), or None
    when the target has no such path or refused a row (then `_copy_rows` finds it)."""
    stream = getattr(writer, "write_stream", None)  # the mapped writers have none
    if stream is None:
        return None
    crcs = [0]
    batches = src.read_range(
        part.table, part.columns, part.key, part.lo, part.hi, request.batch_size
    )
    loaded = stream(_crc_of_batches(batches, crcs))
    batches.close()  # a stream given up halfway ends its read here, not when collected
    return None if loaded is None else (loaded, crcs[0])


def copy_partition(
    request: CopyRequest, part: Partition, workspace: Workspace | None = None
) -> PartitionResult:
    """Copy one key range from the source to the target and record it as done (in
    `workspace`, else the request's: a Dask worker passes a scratch one)."""
    started = time.perf_counter()
    ws = workspace or Workspace.open(request.workspace)
    with connect(request.source, ws) as src, connect(request.target, ws) as dst:
        store = dst.copy_state_table(request.state_table)
        attempt = part.attempts + 1
        store.put([part.record(status="running", attempts=attempt)])
        dst.before_load()
        rejects = RejectFile(ws.state_dir, part.run_id, part.table, part.index)
        with mapped_copy.writer(request, dst, part) as writer:
            loaded, crc = None, 0
            if part.raw:
                crcs = [0]
                chunks = src.copy_out(part.table, part.columns, part.key, part.lo, part.hi)
                loaded = writer.write_raw(_crc_of(chunks, crcs))
                crc = crcs[0]
            streamed = None
            if loaded is None and not part.raw and part.attempts == 0:
                streamed = _stream_rows(request, part, src, writer)
            if loaded is not None:
                rows = loaded
            elif streamed is not None:
                rows, crc = streamed
            else:
                rows, crc = _copy_rows(request, part, src, writer, rejects)
            checksum = f"{crc:08x}"
            writer.put_state(
                request.state_table,
                [
                    part.record(
                        status="done",
                        rows=rows,
                        checksum=checksum,
                        attempts=attempt,
                        info={"rejected": rejects.count},
                    )
                ],
            )
    return PartitionResult(
        part.table,
        part.index,
        rows,
        rejects.count,
        checksum,
        round(time.perf_counter() - started, 3),
        "raw" if loaded is not None else "stream" if streamed is not None else "rows",
    )
