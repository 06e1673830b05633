"""Runs the demo: prepares a fresh workspace, then calls each step in order and collects results.

A step is a plain function `step_<key>(ctx) -> Done` (context.py), registered in `steps.STEPS`;
its docstring's first line is its title. The runner
knows nothing about what a step does, so adding the plan, execute and validate steps as those
engines land means writing one function and appending it to the list.

A step whose engine is not part of this installation yet (its module is missing) is reported as
skipped rather than failing the demo; any DataMigrationError marks the step failed with the
error's hint, and the demo goes on with the steps that do not depend on it.

Without a URL the sample database is an SQLite file in the workspace. With `db` (a server URL)
the runner asks the dialect's target (demo/targets.py) for a throwaway sample database on that
server, runs the target's steps, and always runs its cleanup steps last, whatever failed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datamigration.db.dialect import dialect_of
from datamigration.db.urls import resolve
from datamigration.demo.context import DemoContext, Step, StepSkipped
from datamigration.demo.steps import STEPS
from datamigration.demo.targets import DemoDatabase, target_for
from datamigration.errors import ConflictError, DataMigrationError, UserInputError
from datamigration.workspace.root import Workspace

MARKER = ".datamigration/demo.json"
DEFAULT_DIR = "datamigration-demo"
DATABASE_FILE = "app.db"


@dataclass(frozen=True)
class StepResult:
    """What one step did, in words (summary, details) and as checkable facts (data, files)."""

    key: str
    title: str
    status: str  # "done" | "skipped" | "failed"
    summary: str
    details: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # workspace-relative paths the step created or changed
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "status": self.status,
            "summary": self.summary,
            "details": list(self.details),
            "files": list(self.files),
            "data": self.data,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class DemoReport:
    workspace: Path
    database_url: str  # redacted
    steps: tuple[StepResult, ...]
    seconds: float
    dialect: str = "sqlite"
    database: DemoDatabase | None = None
    kept: bool = False

    @property
    def ok(self) -> bool:
        return all(s.status != "failed" for s in self.steps)

    def step(self, key: str) -> StepResult:
        return next(s for s in self.steps if s.key == key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "workspace": str(self.workspace),
            "database_url": self.database_url,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "steps": [s.to_dict() for s in self.steps],
            "dialect": self.dialect,
            "database": ({**self.database.to_dict(), "kept": self.kept} if self.database else None),
        }


def prepare_directory(directory: Path) -> Path:
    """A fresh, empty demo directory. A previous demo there is replaced; anything else is not.

    The marker file proves the directory is ours, so a mistyped `--dir` never wipes someone's
    project.
    """
    directory = directory.expanduser().resolve()
    if directory.exists():
        if not directory.is_dir():
            raise ConflictError(
                f"{directory} exists and is not a directory",
                hint="Pass --dir with a new or empty directory.",
            )
        if any(directory.iterdir()):
            if not (directory / MARKER).is_file():
                raise ConflictError(
                    f"{directory} is not empty and was not created by `datamigration demo`",
                    hint="Pass --dir with a new or empty directory; the demo never overwrites "
                    "files it did not create.",
                    path=str(directory),
                )
            shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    marker = directory / MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"created_by": "datamigration demo"}) + "\n", encoding="utf-8")
    return directory


def run_demo(
    directory: Path,
    steps: Sequence[Step] | None = None,
    *,
    db: str | None = None,
    keep: bool = False,
) -> DemoReport:
    """Create the demo workspace in `directory` and run every step against it.

    With `db` (a server URL) the sample database is made on that server by the dialect's
    target and removed at the end unless `keep`."""
    if db is not None:
        return _run_on_server(directory, db, steps, keep)
    started = time.perf_counter()
    root = prepare_directory(directory)
    database = root / DATABASE_FILE
    url = f"sqlite:///{database}"
    # An absolute path, so the connection works from any current directory.
    _write_config(root, url)
    ctx = DemoContext(workspace=Workspace.open(root), database_url=url)
    results = [_run_step(step, ctx) for step in (steps if steps is not None else STEPS)]
    return DemoReport(root, url, tuple(results), time.perf_counter() - started)


def _run_on_server(
    directory: Path, db: str, steps: Sequence[Step] | None, keep: bool
) -> DemoReport:
    started = time.perf_counter()
    server = resolve(db)  # before anything is created: a bad URL or scheme changes nothing
    if dialect_of(server.dialect).embedded:
        raise UserInputError(
            "the SQLite demo makes its own database; --db is for a database server",
            hint="Run `datamigration demo` without --db, or pass --db postgresql://...",
        )
    target = target_for(server)
    root = prepare_directory(directory)
    database = target.provision(server)
    ctx = DemoContext(
        workspace=Workspace.open(root),
        database_url=database.url,
        dialect=target.dialect,
        tables=database.tables,
        database=database,
        keep=keep,
    )
    results: list[StepResult] = []
    with _environment(database.env):
        try:
            _write_config(root, database.config_url)
            ctx.workspace = Workspace.open(root)  # with the config that names the database
            results += [_run_step(s, ctx) for s in (steps if steps is not None else target.steps())]
        finally:
            # Whatever failed above, what the demo created on the server goes.
            results += [_run_step(s, ctx) for s in target.cleanup()]
    return DemoReport(
        root,
        database.redacted,
        tuple(results),
        time.perf_counter() - started,
        dialect=target.dialect,
        database=database,
        kept=keep,
    )


def _write_config(root: Path, url: str) -> None:
    (root / "datamigration.toml").write_text(
        "# Written by `datamigration demo`: the sample application's database.\n"
        "[connections]\n"
        f"app = {json.dumps(url)}\n",
        encoding="utf-8",
    )


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set the variables the workspace config references (${VAR}) for the demo's duration."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run_step(step: Step, ctx: DemoContext) -> StepResult:
    key = step.__name__.removeprefix("step_")
    title = (step.__doc__ or key).strip().splitlines()[0].rstrip(".")
    started = time.perf_counter()
    try:
        done = step(ctx)
    except StepSkipped as exc:
        return StepResult(key, title, "skipped", str(exc), seconds=time.perf_counter() - started)
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("datamigration."):
            raise
        reason = f"engine {exc.name} is not available yet"
        return StepResult(key, title, "skipped", reason, seconds=time.perf_counter() - started)
    except DataMigrationError as exc:
        return StepResult(key, title, "failed", exc.render(), seconds=time.perf_counter() - started)
    return StepResult(
        key=key,
        title=title,
        status="done",
        summary=done.summary,
        details=done.details,
        files=done.files,
        data=done.data,
        seconds=time.perf_counter() - started,
    )
