"""What a sync is asked to do (`SyncRequest`), its run name, fingerprint and errors.

A run name names every object the capture creates on the source (`dm_sync_<run>...`), the
state row on the target and the local folder `.datamigration/sync/<run>/`, so it is parsed
into the one shape all of them take (`^[a-z0-9_]{1,40}$`) before anything is touched.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from datamigration.db.capture import valid_run as check_run_name
from datamigration.errors import ConflictError, UserInputError

DEFAULT_SYNC_BATCH = 1_000
METHODS = ("auto", "logical", "binlog", "trigger")


class SyncRefusedError(ConflictError):
    """The run exists with other settings, or is running elsewhere."""

    default_hint = (
        "Stop and remove the old run first (sync action=stop), or start under another run name."
    )


def default_run(tables: tuple[str, ...]) -> str:
    name = re.sub(r"[^a-z0-9_]+", "_", "_".join(tables).lower()).strip("_")
    return (name or "sync")[:40]


@dataclass(frozen=True)
class SyncRequest:
    """A sync from `source` to `target` of `tables` (source names; the target keeps them)."""

    source: str
    target: str
    tables: tuple[str, ...]
    mapping: dict[str, Any] | None = None
    run: str | None = None
    method: str = "auto"
    batch_size: int = DEFAULT_SYNC_BATCH
    workspace: str = "."
    #: Debezium JSON lines instead of our own capture (no snapshot copy either)
    events_file: str | None = None
    #: empty target tables that hold rows before the snapshot copy
    truncate: bool = False
    accept_conversions: bool = False
    #: seconds between reads when the source has nothing new
    idle_s: float = 0.2

    def __post_init__(self) -> None:
        if not self.tables:
            raise UserInputError("name the tables to sync", hint="e.g. tables=['users', 'orders']")
        for t in self.tables:
            if not isinstance(t, str) or not t or len(t) > 128 or "\x00" in t:
                raise UserInputError(f"table name {t!r} is not a table name",
                                     hint="Give the source tables' names.")  # fmt: skip
        check_run_name(self.name)
        if self.method not in METHODS:
            raise UserInputError(f"capture method {self.method!r} is unknown",
                                 hint=f"One of {', '.join(METHODS)}.")  # fmt: skip
        if not 1 <= int(self.batch_size) <= 100_000:
            raise UserInputError("batch_size is 1 to 100000", hint="e.g. 1000.")

    @property
    def name(self) -> str:
        return self.run if self.run is not None else default_run(self.tables)

    def with_(self, **changes: Any) -> SyncRequest:
        return replace(self, **changes)

    def fingerprint(self) -> str:
        """The tables and the mapping: what must not change under one run name."""
        body = {"tables": list(self.tables), "mapping": self.mapping}
        text = json.dumps(body, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def literal_password(text: str) -> bool:
    """Does a connection spelling carry a password itself (not a ${VAR} reference)?"""
    if "://" not in text:
        return False
    try:
        password = urlsplit(text).password
    except ValueError:
        return False
    return bool(password) and not str(password).startswith("${")


def sync_action(request: SyncRequest, workspace: Any, verb: str = "start") -> Any:
    """The exact action a person confirms (the same on the CLI and in the MCP tool)."""
    from datamigration.confirmation import Action
    from datamigration.db.urls import resolve

    dst = resolve(request.target, workspace).redacted
    src = (
        f"Debezium events in {request.events_file}"
        if request.events_file
        else resolve(request.source, workspace).redacted
    )
    summary = f"sync {', '.join(request.tables)} from {src} into {dst} (run {request.name}): " + (
        "apply the events" if request.events_file else "capture on the source, copy, apply"
    )
    payload = {"source": src, "target": dst, "tables": list(request.tables), "run": request.name,
               "method": request.method, "truncate": request.truncate, "mapping": request.mapping,
               "events_file": request.events_file}  # fmt: skip
    return Action(f"sync_{verb}", summary, payload)
