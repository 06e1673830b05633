"""The move engine, part 1: a partitioned, parallel, resumable, lossless copy between databases.

Interfaces (kept stable for the MongoDB mapping, export/import and the Dask runner):

* `run_copy(request: CopyRequest, *, progress=None) -> dict` (`runner`): the one function the
  CLI (`datamigration copy`) and the MCP tool (`copy_data`) call. `progress(event, data)`
  receives start, partition, table_done, validate and finish events. Returns the report (or
  the plan of work for a dry run).
* `copy_partition(request: CopyRequest, partition: Partition) -> PartitionResult`
  (`worker`): one key range, a pure function of its picklable arguments that opens its own
  connections; any pool (threads, processes, a Dask cluster) can run it.
* `CopyRequest` (`request`): source, target, tables, settings; `Partition` (`partitions`).
* The database side is the backends' bulk contract (`db/bulk.py`, one `bulk.py` per
  database package): `create_target`, `finish_target`, `describe_target`, `truncate_targets`,
  `key_boundaries`, `read_range`, `column_maxima`, `bulk_writer` (a `BulkWriter`:
  `write(rows, replace=)`, `put_state`), `copy_state_table` (a `CopyStateStore`),
  `before_load`, and the DDL text methods shown by a dry run.

Modules: `request` (request, errors), `schema` (target schema planning through the type map),
`partitions`, `state` (checkpoints, fingerprint, resume), `worker`, `pools` (the local pool or
a Dask cluster, `--cluster`), `rejects`, `runner` (orchestration), `finish` (constraints,
validation, cleanup), `report`.
"""

from datamigration.move.partitions import Partition
from datamigration.move.request import CopyRequest
from datamigration.move.runner import run_copy
from datamigration.move.worker import PartitionResult, copy_partition

__all__ = ["CopyRequest", "Partition", "PartitionResult", "copy_partition", "run_copy"]
