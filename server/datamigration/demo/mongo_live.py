"""The MongoDB demo chapter: a field rename planned and executed on a live collection, then
rolled back, while a small application keeps reading and writing it.

`datamigration demo --db mongodb://HOST:PORT` runs it on a throwaway database of its own
(``dm_demo_<random>``, dropped at the end unless ``--keep``): a ``users`` collection of a few
thousand documents, an application thread that reads users and updates and inserts them through
the db layer, and the planner + executor renaming ``full_name`` to ``display_name`` by
expand-contract on documents. The application follows the plan's manual steps the way a rolling
deploy would: it starts writing both fields at the expand step, reads ``display_name`` after
the switch, and goes back to the old version before the rollback. The chapter counts the
application's operations and failures; a failure is an operation that raised, or a read of
``display_name`` that found it missing after the switch.

`run_live(url, workspace)` is the chapter itself (tests and the demo call it); the rest of the
module is the demo target (provision, steps, cleanup) registered in demo/targets.py.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from datamigration import db
from datamigration.db.mongodb.backend import new_document_id
from datamigration.db.urls import ConnectionURL
from datamigration.demo.context import DemoContext, Done, Step, StepSkipped
from datamigration.demo.postgres import _config_url, _env
from datamigration.demo.targets import DemoDatabase, DemoTarget
from datamigration.execute import service
from datamigration.execute.runner import RunOptions
from datamigration.plan.planner import plan_migration
from datamigration.plan.spec import parse_spec
from datamigration.validate.rules import run_rules
from datamigration.workspace.root import Workspace

PREFIX = "dm_demo_"
DOCUMENTS = 3_000
COUNTRIES = ("GB", "FR", "DE", "US", "JP", "BR")
RENAME = {"kind": "rename_column", "table": "users", "column": "full_name",
          "new_name": "display_name", "title": "Rename users.full_name to display_name"}  # fmt: skip


def sample_users(n: int = DOCUMENTS, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{"_id": new_document_id(), "email": f"user{i}@example.com",
             "full_name": f"{rng.choice(('Ada', 'Alan', 'Grace', 'Edsger'))} {i}",
             "country": rng.choice(COUNTRIES), "orders": rng.randint(0, 20)}
            for i in range(1, n + 1)]  # fmt: skip


def seed(url: str, workspace: Workspace, n: int = DOCUMENTS) -> list[Any]:
    """Insert the sample users; returns their _ids (ObjectIds, as an application's would be)."""
    docs = sample_users(n)
    with db.connect(url, workspace) as backend:
        for i in range(0, len(docs), 1000):
            backend.apply_document_operation(
                {"collection": "users", "op": "insert_many", "documents": docs[i : i + 1000]}
            )
    return [d["_id"] for d in docs]


@dataclass
class AppStats:
    reads: int = 0
    writes: int = 0
    inserts: int = 0
    failures: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ops(self) -> int:
        return self.reads + self.writes + self.inserts


class App(threading.Thread):
    """The sample application: reads a user, updates one, now and then signs one up."""

    def __init__(self, url: str, workspace: Workspace, ids: list[Any]) -> None:
        super().__init__(name="demo-app", daemon=True)
        self.url, self.workspace = url, workspace
        self.ids = list(ids)
        self.mode = "old"  # "old" -> "dual" (writes both) -> "new" (reads display_name)
        self.stats = AppStats()
        self.stop = threading.Event()
        self._rng = random.Random(11)

    def _fail(self, what: str) -> None:
        self.stats.failures += 1
        if len(self.stats.errors) < 5:
            self.stats.errors.append(what)

    def run(self) -> None:
        with db.connect(self.url, self.workspace) as backend:
            while not self.stop.is_set():
                try:
                    self._one(backend)
                except Exception as exc:  # noqa: BLE001 - every failure is counted, none hidden
                    self._fail(f"{type(exc).__name__}: {exc}")
                self.stop.wait(0.002)

    def _one(self, backend: Any) -> None:
        uid = self._rng.choice(self.ids)
        field_ = "display_name" if self.mode == "new" else "full_name"
        query = {"find": "users", "filter": {"_id": {"$oid": str(uid)}}}
        found = backend.query(json.dumps(query)).rows
        self.stats.reads += 1
        if found and field_ not in found[0][0]:
            self._fail(f"user {uid} has no {field_}")
        name = f"Renamed {uid} {self.stats.writes}"
        names = (
            {"full_name": name} if self.mode == "old" else {"full_name": name, "display_name": name}
        )
        if self._rng.random() < 0.1:
            doc = {"_id": new_document_id(), "email": f"new{len(self.ids)}@example.com",
                   "country": "GB", "orders": 0, **names}  # fmt: skip
            backend.apply_document_operation({"collection": "users", "op": "insert_one",
                                              "document": doc})  # fmt: skip
            self.ids.append(doc["_id"])
            self.stats.inserts += 1
            return
        backend.apply_document_operation({"collection": "users", "op": "update_one",
                                          "filter": {"_id": uid}, "update": {"$set": names}})  # fmt: skip
        self.stats.writes += 1


def run_live(url: str, workspace: Workspace, *, documents: int = DOCUMENTS,
             batch_size: int = 500) -> dict[str, Any]:  # fmt: skip
    """Seed `users`, start the application, rename full_name -> display_name with the planner
    and the executor (expand, migrate, switch, validation), roll it all back; stats."""
    started = time.perf_counter()
    ids = seed(url, workspace, documents)
    plan = plan_migration(workspace, parse_spec({**RENAME, "batch_size": batch_size}), url).plan
    app = App(url, workspace, ids)
    app.start()
    executed: list[str] = []
    rolled: list[str] = []

    def go(mode: str = "execute", **kw: Any) -> dict[str, Any]:
        prepared = service.prepare(workspace, plan.id, plan.hash, mode=mode, db=url,
                                   options=RunOptions(announce=False), **kw)  # fmt: skip
        return service.jsonable_result(prepared.run())

    try:
        for s in plan.steps:
            if s.phase == "contract":
                break
            out = go(step=s.id)
            executed += [r["step"] for r in out["steps"]]
            if s.phase == "expand":
                app.mode = "dual"  # the dual-write version is deployed
            elif s.phase == "switch":
                app.mode = "new"  # reads display_name
        rules = [dict(r) for r in plan.steps[1].validation]
        check = run_rules({"name": "demo-mongo", "rules": rules}, workspace, target=url)
        app.mode = "old"  # the previous version is deployed again before the rollback
        out = go(mode="rollback", all_steps=True)
        rolled = [r["step"] for r in out["steps"]]
    finally:
        app.stop.set()
        app.join(timeout=30)
    with db.connect(url, workspace) as backend:
        count = backend.exact_count("users")
        leftover = backend.apply_document_operation(
            {"collection": "users", "op": "count", "filter": {"display_name": {"$exists": True}}}
        )["count"]
    st = app.stats
    return {
        "plan_id": plan.id,
        "plan_hash": plan.hash,
        "documents": len(ids),
        "documents_after": count,
        "steps_executed": executed,
        "steps_rolled_back": rolled,
        "validation_passed": check.passed,
        "validation": check.summary,
        "display_name_left_after_rollback": leftover,
        "app": {
            "ops": st.ops,
            "reads": st.reads,
            "writes": st.writes,
            "inserts": st.inserts,
            "failures": st.failures,
            "errors": st.errors,
        },
        "seconds": round(time.perf_counter() - started, 2),
    }


# --- the demo target -------------------------------------------------------------------------


def provision(server: ConnectionURL) -> DemoDatabase:
    """A database name of the demo's own on the server (MongoDB creates it on first write)."""
    name = PREFIX + secrets.token_hex(4)
    url = _with_database(server.url, name)
    return DemoDatabase(kind="database", name=name, url=url,
                        redacted=server.with_database(name).redacted,
                        config_url=_config_url(server, url), env=_env(server),
                        description=f"database {name} on {server.host or 'localhost'}:"
                        f"{server.port or 27017}", server_url=server.url)  # fmt: skip


def _with_database(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def step_live_rename(ctx: DemoContext) -> Done:
    """Rename users.full_name to display_name under load, validate, roll back (MongoDB)."""
    stats = run_live(ctx.database_url, ctx.workspace)
    ctx.facts["mongo_live"] = stats
    app = stats["app"]
    return Done(
        f"{len(stats['steps_executed'])} steps executed and {len(stats['steps_rolled_back'])} "
        f"rolled back on {stats['documents']} documents while the application ran {app['ops']} "
        f"operations with {app['failures']} failures",
        details=(
            (
                f"plan {stats['plan_id']}: expand (application writes both fields: MongoDB has "
                "no triggers), keyset backfill over _id with checkpoints in _datamigration_runs, "
                "the check that no document's display_name differs from full_name, switch"
            ),
            f"validation: {stats['validation']}",
            (
                f"after the rollback: {stats['display_name_left_after_rollback']} documents "
                f"with display_name, {stats['documents_after']} users"
            ),
        ),
        data=stats,
    )


def step_drop_sample_database(ctx: DemoContext) -> Done:
    """Drop the demo's sample database from the server."""
    assert ctx.database is not None
    name = ctx.database.name
    if ctx.keep:
        raise StepSkipped(f"database {name} kept (--keep); remove it with db.dropDatabase()")
    with db.connect(ctx.database.url, ctx.workspace) as backend:
        backend.drop_database()
    return Done(f"database {name} dropped; the server is as the demo found it",
                data={"kind": "database", "name": name})  # fmt: skip


def _steps() -> tuple[Step, ...]:
    return (step_live_rename,)


def _cleanup() -> tuple[Step, ...]:
    return (step_drop_sample_database,)


TARGET = DemoTarget(dialect="mongodb", provision=provision, steps=_steps, cleanup=_cleanup)
