"""Where the coordination files live: AgileFlow's layout when the project has it, ours otherwise.

In an AgileFlow project (a `<docs>/09-agents/` folder or an `.agileflow/` folder) status.json and
the bus live under `<docs>/09-agents/`; elsewhere they sit at the workspace root (`status.json`,
`bus/log.jsonl`). ADRs always go to `<docs>/03-decisions/`. The expertise file is the installed
AgileFlow copy when it exists, else `expertise/datamigration.yaml`. Every path is confined to the
workspace, so a symlinked docs folder that leaves it is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from datamigration.coordination.locking import DEFAULT_TIMEOUT
from datamigration.errors import UserInputError
from datamigration.workspace.root import Workspace

AGILEFLOW_EXPERTISE = ".agileflow/experts/datamigration/expertise.yaml"
DEFAULT_EXPERTISE = "expertise/datamigration.yaml"


@dataclass(frozen=True)
class CoordinationPaths:
    agileflow: bool
    status: Path
    bus: Path
    bus_archive_dir: Path
    decisions_dir: Path
    expertise: Path
    lock_timeout: float = DEFAULT_TIMEOUT

    def bus_archive(self, month: str) -> Path:
        """The archive for one month (`YYYY-MM`), AgileFlow's `YYYY-MM-archive.jsonl`."""
        return self.bus_archive_dir / f"{month}-archive.jsonl"


def coordination_paths(workspace: Workspace) -> CoordinationPaths:
    docs = workspace.docs_dir
    agileflow = workspace.is_agileflow_project()
    if agileflow:
        status = docs / "09-agents" / "status.json"
        bus_dir = docs / "09-agents" / "bus"
    else:
        status = workspace.root / "status.json"
        bus_dir = workspace.root / "bus"
    return CoordinationPaths(
        agileflow=agileflow,
        status=workspace.resolve(status),
        bus=workspace.resolve(bus_dir / "log.jsonl"),
        bus_archive_dir=workspace.resolve(bus_dir / "archive"),
        decisions_dir=workspace.resolve(docs / "03-decisions"),
        expertise=workspace.resolve(_expertise_path(workspace)),
        lock_timeout=_lock_timeout(workspace),
    )


def _lock_timeout(workspace: Workspace) -> float:
    """`[coordination] lock_timeout_seconds` in datamigration.toml, default 15 s."""
    section = workspace.config.get("coordination")
    value = section.get("lock_timeout_seconds") if isinstance(section, dict) else None
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise UserInputError(
            f"datamigration.toml: [coordination] lock_timeout_seconds = {value!r} is not a "
            "positive number",
            hint="Set it to the seconds a writer may wait for a lock, e.g. 15.",
        )
    return float(value)


def _expertise_path(workspace: Workspace) -> Path:
    installed = workspace.root / AGILEFLOW_EXPERTISE
    ours = workspace.root / DEFAULT_EXPERTISE
    if installed.is_file():
        return installed
    if ours.is_file():
        return ours
    if (workspace.root / ".agileflow" / "experts").is_dir():
        return installed
    return ours
