"""What a copy run is asked to do (`CopyRequest`) and the errors particular to copying.

A request is plain, picklable data: connection names or URLs as the user gave them (a URL's
password is resolved again from the environment or `datamigration.toml` wherever a worker
opens its own connection, and never written anywhere), the tables, and the settings. A Dask
or process-pool worker receives a request and a `Partition` and needs nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from datamigration.errors import ConflictError, UserInputError

DEFAULT_BATCH_SIZE = 10_000
DEFAULT_PARTITION_ROWS = 200_000
DEFAULT_WORKERS = 4
#: connections one run may hold on each database (each worker holds one on each side)
DEFAULT_MAX_CONNECTIONS = 8
STATE_TABLE = "_datamigration_copy"


@dataclass(frozen=True)
class CopyRequest:
    """A copy from `source` to `target` of `tables` (source names; the target keeps them)."""

    source: str
    target: str
    tables: tuple[str, ...]
    workspace: str = "."
    mapping: dict[str, Any] | None = None
    workers: int = DEFAULT_WORKERS
    batch_size: int = DEFAULT_BATCH_SIZE
    partition_rows: int = DEFAULT_PARTITION_ROWS
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    pool: str = "thread"  # thread | process
    #: a Dask cluster instead of the local pool: "local", "local:N" or "tcp://host:8786"
    cluster: str | None = None
    resume: bool = False
    run_id: str | None = None
    dry_run: bool = False
    accept_conversions: bool = False
    truncate: bool = False
    strict: bool = False
    story: str | None = None
    state_table: str = STATE_TABLE
    #: bound on the rows one partition may refuse before the run stops (None: no bound)
    max_rejects: int | None = None
    #: compare source and target at the end (counts + checksum diff). A sync's snapshot of a
    #: source the application keeps writing turns it off: the two sides differ by the writes
    #: made since, which the capture carries over, and the cutover's final diff (taken with
    #: writes paused) is the comparison that means something
    validate: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.tables:
            raise UserInputError(
                "name the tables to copy", hint="e.g. tables=['users', 'orders'] (--tables)."
            )
        for name, value in (
            ("workers", self.workers),
            ("batch_size", self.batch_size),
            ("partition_rows", self.partition_rows),
            ("max_connections", self.max_connections),
        ):
            if int(value) < 1:
                raise UserInputError(
                    f"{name} must be 1 or more, not {value}", hint=f"Give a positive {name}."
                )
        if self.pool not in ("thread", "process"):
            raise UserInputError(f"unknown pool {self.pool!r}", hint="Use thread or process.")

    def with_(self, **changes: Any) -> CopyRequest:
        return replace(self, **changes)

    def settings(self) -> dict[str, Any]:
        """What decides the copy's outcome (the fingerprint's input); how fast it runs
        (workers, batch size, pool, partition size: a resumed run reads its ranges back) is
        left out, so a resume may change it."""
        return {
            "tables": list(self.tables),
            "mapping": self.mapping,
            "accept_conversions": self.accept_conversions,
        }


class ConversionsRefusedError(UserInputError):
    """Columns whose type the target cannot keep exactly; nothing was copied."""

    default_hint = (
        "Review each listed conversion; accept them with accept_conversions=true "
        "(--accept-conversions), or change the target."
    )


class TargetNotEmptyError(ConflictError):
    default_hint = (
        "Copy into an empty table, or let the copy empty it first with truncate=true "
        "(--truncate, confirmed), or resume the unfinished run (resume=true)."
    )


class KeylessTableError(UserInputError):
    default_hint = (
        "Choices: add a primary key to the source table; or add a UNIQUE constraint on NOT "
        "NULL columns; or copy it with another tool that does not resume (export/import)."
    )


class ResumeRefusedError(ConflictError):
    default_hint = (
        "Resume with the same tables and mapping, or start a new run (drop resume) after "
        "emptying the target tables (truncate=true)."
    )


class CopyFailedError(ConflictError):
    """A partition failed; the run's state stays on the target so it can resume."""

    default_hint = "Fix the cause, then resume the run: copy_data resume=true (--resume RUN_ID)."


def load_mapping(workspace: Any, path: str) -> dict[str, Any]:
    """A mapping file (JSON or YAML) from the workspace, parsed safely."""
    from datamigration.safeload import load_json, load_yaml, require_object

    file = workspace.resolve(path)
    if not file.is_file():
        raise UserInputError(f"mapping file {path} not found", hint="Give a path in the workspace.")
    text = file.read_text(encoding="utf-8")
    hint = "A mapping file is a JSON or YAML object."
    loader = load_json if file.suffix == ".json" else load_yaml
    data = loader(text, source=path, hint=hint)
    return require_object(data, source=path, hint=hint)


def copy_action(request: CopyRequest, workspace: Any) -> Any:
    """The exact action a person confirms (the same on the CLI and in the MCP tool)."""
    from datamigration.confirmation import Action
    from datamigration.db.urls import resolve

    src = resolve(request.source, workspace).redacted
    dst = resolve(request.target, workspace).redacted
    verb = "empty and copy into" if request.truncate else "copy into"
    what = "resume the copy of" if request.resume else "copy"
    summary = f"{what} {', '.join(request.tables)} from {src}: {verb} {dst}"
    payload = {
        "source": src,
        "target": dst,
        "tables": list(request.tables),
        "truncate": request.truncate,
        "resume": request.resume,
        "run_id": request.run_id,
        "accept_conversions": request.accept_conversions,
        "mapping": request.mapping,
    }
    return Action("copy_data", summary, payload)
