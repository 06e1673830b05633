"""Which demo runs for which database: `datamigration demo --db URL` dispatches here by dialect.

The embedded SQLite demo needs no URL and is the runner's default. A server database (PostgreSQL
today) has a *target*: a module that knows how to make a throwaway sample database on the given
server (and remove it afterwards) and which steps make sense there. Targets are registered by
dialect name in `TARGETS`, as the dotted path of a module that defines `TARGET` (a `DemoTarget`),
so a new chapter (MongoDB, MySQL) is one module plus one line here, and importing this module
costs nothing for the SQLite default.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from datamigration.errors import UserInputError

if TYPE_CHECKING:
    from datamigration.db.urls import ConnectionURL
    from datamigration.demo.context import Step

#: dialect name (db/urls.py SCHEMES values) -> module defining TARGET: DemoTarget.
TARGETS: dict[str, str] = {
    "postgresql": "datamigration.demo.postgres",
    "mongodb": "datamigration.demo.mongo_live",
}

#: Why a dialect has no demo chapter yet, shown with the refusal.
PENDING: dict[str, str] = {}


@dataclass(frozen=True)
class DemoDatabase:
    """The sample database a target made for one demo run, and how the demo reaches it.

    `url` holds the secret and stays in memory; `config_url` is what the workspace's
    datamigration.toml names (the password as a ${VAR} reference, `env` its value)."""

    kind: str  # "database" (a new database on the server) or "schema" (inside the given one)
    name: str
    url: str = field(repr=False)
    redacted: str
    config_url: str
    env: dict[str, str] = field(default_factory=dict, repr=False)
    #: tables to inspect by qualified name, when other tables share the database
    tables: tuple[str, ...] | None = None
    description: str = ""
    #: the URL the demo was given (holds the secret): where to remove the sample from
    server_url: str = field(default="", repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "url": self.redacted,
            "config_url": self.config_url,
            "description": self.description,
        }


@dataclass(frozen=True)
class DemoTarget:
    """A demo for one kind of server: how to provision its sample database and its steps."""

    dialect: str
    #: creates the sample database on the server the URL names; touches nothing else there
    provision: Callable[[ConnectionURL], DemoDatabase]
    #: the demo's steps on this database, in order
    steps: Callable[[], tuple[Step, ...]]
    #: steps the runner always runs last, even after a failure: remove what provision made
    #: (unless the context's `keep`)
    cleanup: Callable[[], tuple[Step, ...]]


def target_for(url: ConnectionURL) -> DemoTarget:
    """The registered target for the URL's dialect, or a refusal that says what works."""
    module = TARGETS.get(url.dialect)
    if module is None:
        why = PENDING.get(url.dialect, f"there is no demo chapter for {url.dialect} yet")
        raise UserInputError(
            f"`datamigration demo --db` cannot run on {url.redacted}: {why}",
            hint="Run `datamigration demo` (embedded SQLite, nothing to install) or "
            "`datamigration demo --db postgresql://USER@HOST:PORT/DB`; demo chapters exist for: "
            + ", ".join(sorted(["sqlite (default)", *TARGETS])),
            dialect=url.dialect,
        )
    target = importlib.import_module(module).TARGET
    assert isinstance(target, DemoTarget)
    return target
