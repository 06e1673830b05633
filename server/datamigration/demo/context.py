"""What a demo step is given and what it gives back: the context, `Done`, `StepSkipped`.

The steps (steps.py, live.py, the targets' chapters) and the runner that calls them both import
this module; the steps never import the runner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datamigration.demo.targets import DemoDatabase
from datamigration.workspace.root import Workspace

STORY_ID = "US-0001"


@dataclass
class DemoContext:
    """Shared by the steps: the workspace, the database, and facts earlier steps found."""

    workspace: Workspace
    database_url: str
    connection_name: str = "app"
    story_id: str = STORY_ID
    facts: dict[str, Any] = field(default_factory=dict)
    dialect: str = "sqlite"
    #: the demo's tables by qualified name, when the database holds other tables too
    tables: tuple[str, ...] | None = None
    #: the target's sample database (None on the SQLite default)
    database: DemoDatabase | None = None
    keep: bool = False

    @property
    def root(self) -> Path:
        return self.workspace.root


@dataclass(frozen=True)
class Done:
    """What a step returns when it did its work."""

    summary: str
    details: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)


Step = Callable[[DemoContext], Done]


class Background:
    """A demo application's thread: started on entering the block, stopped (and waited for)
    on leaving it; subclasses write `_run`, which ends when `_stop` is set."""

    def __init__(self, name: str) -> None:
        import threading

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class StepSkipped(Exception):
    """Raised by a step whose engine is not installed yet; carries the reason shown."""
