"""Change capture, the database side: the contract every capture method meets.

The sync engine (`move/sync/`) starts a capture before the snapshot copy, so nothing written
during the copy is missed, then reads changes, applies them to the target and acknowledges
them. The method is the database's business and lives in its package:

* PostgreSQL with `wal_level=logical`: a publication and a logical slot read over plain SQL
  with pgoutput (`db/postgres/capture.py`);
* PostgreSQL without it, MySQL/MariaDB, SQLite: row triggers writing to a change table
  (`db/trigger_capture.py` plus each package's trigger text);
* MySQL/MariaDB with `binlog_format=ROW`: the binlog, through `mysql-replication`.

Every method yields `db.change_events.ChangeEvent`s in commit order, whole transactions only.
Objects a capture creates on the source are named with the prefix `CAPTURE_PREFIX` plus the
run's name, so an abandoned one (a crashed run) can be found (`capture_leftovers`) and removed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from datamigration.errors import UserInputError

if TYPE_CHECKING:
    from datamigration.db.change_events import ChangeEvent, Position

#: prefix of every slot, publication, trigger and change table a capture creates
CAPTURE_PREFIX = "dm_sync_"

METHODS = ("logical", "binlog", "trigger")

#: a run's name goes into object names on the source (slots, triggers, tables): only this
RUN_NAME = re.compile(r"[a-z0-9_]{1,40}")


def valid_run(name: str) -> str:
    """A run name as it goes into object names, or a refusal: it is model-supplied, so it is
    matched whole (a trailing newline or a quote never slips through)."""
    if not isinstance(name, str) or not RUN_NAME.fullmatch(name):
        raise UserInputError(
            f"run name {str(name)[:60]!r} is not 1 to 40 characters of a-z, 0-9 and _",
            hint="Name the run e.g. users_to_mongo (it names the capture's objects on the source).",
            run=str(name)[:80],
        )
    return name


class ChangeCapture:
    """One capture of some tables of one source database, under one name.

    `prepare` creates what the method needs on the source (slot and publication, or change
    table and triggers) and checks the preconditions (keys, `wal_level`, REPLICA IDENTITY,
    a name already in use), refusing with the exact fix; it is idempotent for the same name.
    `read` returns up to `limit` events after the last acknowledged position without consuming
    them (a crash replays them); `ack(position)` says the target holds everything up to it,
    and only then does the source let go of it. `lag` reports how far behind the reader is.
    `teardown` removes everything `prepare` made; it is idempotent."""

    method: ClassVar[str] = ""

    def __init__(self, backend: Any, name: str, tables: Sequence[str]) -> None:
        self.backend = backend
        self.name = name
        self.tables = tuple(tables)

    def prepare(self) -> dict[str, Any]:
        raise NotImplementedError

    def read(self, limit: int = 10_000) -> list[ChangeEvent]:
        raise NotImplementedError

    def ack(self, position: Position) -> None:
        raise NotImplementedError

    def current_position(self) -> Position:
        """The source's position now: a cutover drains until `read` has passed it."""
        raise NotImplementedError

    def lag(self) -> dict[str, Any]:
        """`bytes` (WAL or change-table size not yet acknowledged), `events` (pending count
        where cheap), `seconds` (age of the oldest unacknowledged change), each None when the
        method cannot tell."""
        raise NotImplementedError

    def teardown(self) -> None:
        raise NotImplementedError


class CaptureSupport:
    """The backend side: which capture methods a database offers, and finding leftovers."""

    capture_methods: ClassVar[tuple[str, ...]] = ()

    def change_capture(
        self, name: str, tables: Sequence[str], method: str = "auto"
    ) -> ChangeCapture:
        """A capture named `CAPTURE_PREFIX + name` of `tables`. `auto` takes the best method the
        server allows now (logical, then binlog, then triggers)."""
        raise self._unsupported("change capture")  # type: ignore[attr-defined]

    def capture_leftovers(self) -> list[dict[str, Any]]:
        """Capture objects on this database (`kind`: slot, publication, trigger, change_table;
        `name`; `run`: the name without the prefix; `detail`), live or abandoned."""
        return []

    def drop_capture_leftovers(self, run: str) -> list[str]:
        """Remove every capture object of run `run`; returns what was removed."""
        return []
