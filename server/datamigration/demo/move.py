"""`datamigration demo --move`: move the users table to another database with zero downtime.

The chapter the rename demo cannot show: a table leaves its database while the application
keeps writing it. The source is the sample shop on SQLite (in the workspace) or on a
throwaway PostgreSQL database (`--source postgresql`, on the `--db` server); the target a
throwaway PostgreSQL database on the `--db` server or a MongoDB database (`--target
mongodb://...`). A small application (demo/move_app.py) inserts, updates and deletes users
throughout, on whichever side the read/write flag names. In order, each a step printed with
its figures: sync start (capture before the snapshot copy, streaming in a background
process), catch-up (lag and apply rate), shadow reads (where the shadow engine is installed),
cutover (the measured write pause, drain and final checksum diff, the flag flipped), the
application writing the target, the rollback of the cutover (the target's writes replayed to
the source on a SQL target; reported on MongoDB) and the final diff. Everything the demo
created on the servers is removed at the end unless `--keep`.

The steps are the demo runner's (context.py: a function, a `Done`); the run is the runner's
too (`runner.run_steps`), with the move's own provisioning.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from datamigration import db
from datamigration.db.dialect import dialect_of
from datamigration.db.urls import resolve
from datamigration.demo import sample
from datamigration.demo.context import DemoContext, Done, StepSkipped
from datamigration.demo.move_app import FLAG, MoveApp
from datamigration.demo.targets import DemoDatabase
from datamigration.errors import DataMigrationError, UserInputError

RUN = "demo_move"
TABLE = "users"
#: the cutover's bounds: lag before the pause, the longest pause allowed
LAG_MAX_S = 2.0
PAUSE_MAX_MS = 5_000
#: writes the application makes on the target before the rollback
TARGET_WRITES = 20


def _on_server(source: str) -> bool:
    """Does the source live on the --db server (not embedded in the workspace)?"""
    from datamigration.db.dialect import find_dialect

    found = find_dialect(source)
    if found is None:
        raise UserInputError(f"--source {source!r}", hint="Use --source sqlite or postgresql.")
    return not found.embedded


def check_sides(db_url: str | None, target: str | None, source: str) -> None:
    """Refuse a combination the chapter cannot run before anything is created."""
    if target is not None and dialect_of(resolve(target).dialect).embedded:
        raise UserInputError(
            "--target names a database server (postgresql://... or mongodb://...)",
            hint="Leave --target out: the default target is a second SQLite file.",
        )
    if db_url is None and _on_server(source):
        raise UserInputError(
            "--source postgresql starts on the --db server",
            hint="Pass --db postgresql://USER@HOST:PORT/DB as well.",
        )


def _is_documents(url: str) -> bool:
    return bool(dialect_of(resolve(url).dialect).documents)


def provision(db_url: str | None, target: str | None, source: str, root: Path) -> dict:
    """The two sides: {"source": DemoDatabase | sqlite url, "target": DemoDatabase}. Only
    databases of the demo's own (dm_demo_<random>) are created."""
    from datamigration.demo import postgres

    made: dict[str, Any] = {}
    if _on_server(source):
        made["source"] = postgres.provision(resolve(str(db_url)))
    else:
        made["source"] = f"sqlite:///{root / 'app.db'}"
    if target is not None and _is_documents(target):
        from datamigration.demo import mongo_live

        made["target"] = mongo_live.provision(resolve(target))
    elif target is not None or db_url is not None:
        made["target"] = postgres.provision(resolve(str(target or db_url)))
    else:  # offline: a second SQLite file in the workspace
        made["target"] = f"sqlite:///{root / 'moved.db'}"
    return made


def _side(ctx: DemoContext, name: str) -> str:
    """The side's URL as the workspace config spells it (a password stays ${VAR})."""
    side = ctx.facts["sides"][name]
    return side.config_url if isinstance(side, DemoDatabase) else side


def _documents(ctx: DemoContext) -> bool:
    return _is_documents(_side(ctx, "target"))


def _status(ctx: DemoContext, run: str = RUN, back: bool = False) -> dict[str, Any]:
    from datamigration.move.sync.switch import sync_status

    src, dst = _side(ctx, "source"), _side(ctx, "target")
    if back:
        src, dst = dst, src
    return sync_status(run, ctx.workspace, target=dst, source=src)


def _figures(status: dict[str, Any]) -> str:
    lag = status.get("lag") or {}
    seconds = lag.get("seconds")
    rate = status.get("apply_rate")
    return (
        f"applied {status.get('applied') or 0}, lag "
        + (f"{seconds:.2f} s" if seconds is not None else "-")
        + (f", apply rate {rate:.0f} changes/s" if rate else "")
    )


def step_move_sample(ctx: DemoContext) -> Done:
    """Create the sample shop on the source, an empty target, and start the application."""
    from datamigration.demo import postgres

    data = sample.generate()
    schema = postgres.SCHEMA if _on_server(ctx.facts["source_kind"]) else sample.SCHEMA
    with db.connect(_side(ctx, "source"), ctx.workspace) as backend:
        backend.execute(list(schema) + sample.insert_statements(data))
    app = MoveApp(
        _side(ctx, "source"),
        _side(ctx, "target"),
        ctx.workspace,
        users=len(data.users),
        documents=_documents(ctx),
    )
    ctx.facts["app"] = app.__enter__()
    where = {k: _describe(v) for k, v in ctx.facts["sides"].items()}
    return Done(
        f"{len(data.users)} users on the source; the application writes ~60 times a second",
        details=(
            f"source: {where['source']}",
            f"target: {where['target']} (empty)",
            (f"the application writes where flag {FLAG} points (the source until the cutover)"),
        ),
        data={"users": len(data.users)},
    )


def _describe(side: Any) -> str:
    if isinstance(side, DemoDatabase):
        return side.description
    return f"SQLite {str(side).rsplit('/', 1)[-1]} in the workspace"


def step_move_sync_start(ctx: DemoContext) -> Done:
    """Sync start: capture on the source before the snapshot copy, then stream"""
    from datamigration.db.syncstate import SYNC_STATE_TABLE
    from datamigration.move.sync.control import spawn
    from datamigration.move.sync.request import SyncRequest

    request = SyncRequest(
        source=_side(ctx, "source"),
        target=_side(ctx, "target"),
        tables=(TABLE,),
        run=RUN,
        workspace=str(ctx.root),
        accept_conversions=_documents(ctx),
    )
    with db.connect(request.target, ctx.workspace) as target:
        # made before the run and this step's polls reach for it: two CREATE TABLE IF NOT
        # EXISTS at once can collide on PostgreSQL's catalog
        target.sync_state_table(SYNC_STATE_TABLE).ensure()
    started = spawn(request, ctx.workspace)
    ctx.facts["sync_started"] = True
    deadline = time.monotonic() + 30
    status = _status(ctx)
    while not status.get("snapshot_done") and not _failed(status) and time.monotonic() < deadline:
        time.sleep(0.1)
        status = _status(ctx)
    if not status.get("snapshot_done"):
        raise _stuck("the snapshot copy", status)
    return Done(
        f"run {RUN}: {status.get('method')} capture, snapshot copied, streaming",
        details=(f"background process {started['pid']}, log {started['log']}", _figures(status)),
        data={"method": status.get("method"), "applied": status.get("applied")},
    )


def _failed(status: dict[str, Any]) -> bool:
    return status.get("status") == "failed" or bool(status.get("error"))


def _stuck(what: str, status: dict[str, Any]) -> DataMigrationError:
    return DataMigrationError(
        f"{what} did not finish in time: {status.get('error') or status}",
        hint="See the run's log in .datamigration/sync/demo_move/log.",
    )


def step_move_catch_up(ctx: DemoContext) -> Done:
    """Catch-up: the writes made during the copy applied, lag under the bound"""
    from datamigration.move.sync.switch import lag_seconds

    seen: list[float] = []
    deadline = time.monotonic() + 30
    while True:
        status = _status(ctx)
        lag = lag_seconds(status)
        if lag is not None:
            seen.append(lag)
        if (lag is not None and lag < LAG_MAX_S / 2) or _failed(status):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if lag is None or lag >= LAG_MAX_S:
        raise _stuck("the catch-up", status)
    return Done(
        f"lag {lag:.2f} s (bound {LAG_MAX_S:g} s), {status.get('applied') or 0} changes applied",
        details=(_figures(status), f"highest lag seen while catching up: {max(seen):.2f} s"),
        data={
            "lag_s": lag,
            "applied": status.get("applied"),
            "apply_rate": status.get("apply_rate"),
        },
    )


def step_move_shadow(ctx: DemoContext) -> Done:
    """Shadow reads: the same keys read on both sides and compared"""
    from datamigration.validate.shadow.run import ShadowRequest, shadow_reads

    report = shadow_reads(
        ctx.workspace,
        ShadowRequest(
            source=_side(ctx, "source"),
            target=_side(ctx, "target"),
            tables=(TABLE,),
            sample=200,
            seed=1,
        ),
        write=False,
    )
    reads, mismatches = report.get("reads"), report.get("mismatches")
    return Done(
        f"{reads} reads on both sides, {mismatches} mismatch(es) (a write racing a read can "
        "differ for a moment; the cutover's diff is the proof)",
        data={"reads": reads, "mismatches": mismatches, "passed": report.get("passed")},
    )


def _request(ctx: DemoContext) -> Any:
    """The cutover's (and its rollback's) request: the demo's run and bounds."""
    from datamigration.move.sync.cutover import CutoverRequest

    return CutoverRequest(
        run=RUN,
        workspace=str(ctx.root),
        lag_max_s=LAG_MAX_S,
        pause_max_ms=PAUSE_MAX_MS,
        wait_s=30,
        write_pause=_pause_by(ctx),
    )


def _pause_by(ctx: DemoContext) -> str:
    """A lock on the source table, or the application's pause flag where a lock would hold
    a whole database file (an embedded source): the application holds its writes then."""
    embedded = dialect_of(resolve(_side(ctx, "source"), ctx.workspace).dialect).embedded
    return "flag" if embedded else "lock"


def step_move_cutover(ctx: DemoContext) -> Done:
    """Cutover: writes paused, drained, checksum diff, flag flipped"""
    from datamigration.move.sync.cutover import cutover

    app: MoveApp = ctx.facts["app"]
    before = time.monotonic()
    out = cutover(_request(ctx))
    ctx.facts["cutover"] = out
    ctx.facts["cut_at"] = time.monotonic()
    window = (before, ctx.facts["cut_at"])
    ctx.facts.setdefault("pauses", []).append(window)
    diff = out["diff"]
    back = out["way_back"]
    way_back = (
        f"reverse sync {back['run']} from the target started"
        if back.get("run")
        else "no reverse capture on a document store: the target's writes are "
        "recorded, not replayed"
    )
    return Done(
        f"write pause {out['write_pause_ms']:.0f} ms (bound {PAUSE_MAX_MS} ms), diff "
        + ("empty" if diff.get("identical") else "NOT empty")
        + f", flag {out['flag']} on",
        details=(
            (
                f"lag before the pause {out.get('lag_before_s') or 0:.2f} s; drain "
                f"{out.get('drain_ms') or 0:.0f} ms, final checksum diff "
                f"{out.get('diff_ms') or 0:.0f} ms of the pause"
            ),
            way_back,
            (f"application writes so far: {app.count()}, failed {len(app.failed())}"),
        ),
        data={
            "write_pause_ms": out["write_pause_ms"],
            "identical": bool(diff.get("identical")),
            "back_run": back.get("run"),
            "flag": out["flag"],
        },
    )


def step_move_target_writes(ctx: DemoContext) -> Done:
    """The application writes the target now"""
    app: MoveApp = ctx.facts["app"]
    if "cut_at" not in ctx.facts:
        raise StepSkipped("the cutover did not happen")
    n = app.wait_for("target", TARGET_WRITES, ctx.facts["cut_at"])
    ctx.facts["target_writes"] = n
    return Done(
        f"{n} writes on the target since the cutover, none on the source",
        data={
            "target_writes": n,
            "source_writes_after": app.count("source", since=ctx.facts["cut_at"] + 1),
        },
    )


def step_move_rollback(ctx: DemoContext) -> Done:
    """Rollback of the cutover: the target's writes go back, the flag flips back"""
    from datamigration.move.sync.cutover import rollback_cutover

    if "cut_at" not in ctx.facts:
        raise StepSkipped("the cutover did not happen")
    app: MoveApp = ctx.facts["app"]
    before = time.monotonic()
    out = rollback_cutover(_request(ctx))
    ctx.facts["pauses"].append((before, time.monotonic()))
    ctx.facts["rollback"] = out
    back_at = time.monotonic()
    app.wait_for("source", 5, back_at)
    app.stop()
    pause = out.get("write_pause_ms")
    if out.get("replayed") is not None:
        summary = (
            f"{out['replayed']} changes replayed to the source, write pause "
            f"{pause:.0f} ms, flag {out['flag']} off"
        )
    else:
        summary = (
            f"flag {out['flag']} off; {ctx.facts.get('target_writes', 0)} writes made "
            "on the target stay there (reported, not replayed)"
        )
    return Done(
        summary,
        details=(
            (f"application: {app.count('source', since=back_at)} writes on the source again"),
        ),
        data={
            "replayed": out.get("replayed"),
            "write_pause_ms": pause,
            "identical": bool((out.get("diff") or {}).get("identical")),
        },
    )


def step_move_final_diff(ctx: DemoContext) -> Done:
    """Final checksum diffs, and what the application saw"""
    app: MoveApp = ctx.facts["app"]
    app.stop()
    cut = (ctx.facts.get("cutover") or {}).get("diff") or {}
    back = ctx.facts.get("rollback") or {}
    lines = [f"at the cutover (under the pause): {_verdict(cut)}"]
    if back.get("diff"):
        lines.append(f"at the rollback (under the pause): {_verdict(back['diff'])}")
    elif back:
        lines.append("at the rollback: a document target's writes stay there (reported)")
    identical = bool(cut.get("identical")) and (
        not back.get("diff") or bool(back["diff"].get("identical"))
    )
    pauses = ctx.facts.get("pauses", [])
    outside = [w for w in app.failed() if not any(a <= w.started <= b for a, b in pauses)]
    return Done(
        ("diffs empty" if identical else "a diff is NOT empty")
        + f"; application: {app.count()} writes, {len(app.failed())} failed "
        f"({len(outside)} outside the write pauses)",
        details=tuple(lines),
        data={
            "identical": identical,
            "writes": app.count(),
            "failed": len(app.failed()),
            "failed_outside_pause": len(outside),
        },
    )


def _verdict(diff: dict[str, Any]) -> str:
    if not diff:
        return "not taken"
    return "source and target identical" if diff.get("identical") else "DIFFERENT"


def step_move_cleanup(ctx: DemoContext) -> Done:
    """Stop the syncs and remove what the demo created on the servers"""
    from datamigration.move.sync.control import stop_sync

    app = ctx.facts.get("app")
    if app is not None:
        app.stop()
    src, dst = _side(ctx, "source"), _side(ctx, "target")
    removed: list[str] = []
    if ctx.facts.get("sync_started"):
        for run, target, source in ((RUN, dst, src), (RUN + "_back", src, dst)):
            try:
                out = stop_sync(
                    ctx.workspace, run, teardown=True, target=target, source=source, wait_s=10
                )
                removed += out["removed"]
            except DataMigrationError:
                continue  # the way back never started (a MongoDB target, a failed cutover)
    dropped = [_drop(side, ctx) for side in ctx.facts["sides"].values()]
    return Done(
        f"syncs stopped, {len(removed)} capture object(s) removed; " + "; ".join(dropped),
        data={"removed": removed},
    )


def _drop(side: Any, ctx: DemoContext) -> str:
    if not isinstance(side, DemoDatabase):
        return f"{side.rsplit('/', 1)[-1]} stays in the workspace"
    if ctx.keep:
        return f"{side.kind} {side.name} kept (--keep)"
    if _is_documents(side.url):
        with db.connect(side.url) as own:
            own.drop_database()
        return f"database {side.name} dropped"
    drop = (
        f"DROP DATABASE IF EXISTS {side.name} WITH (FORCE)"
        if side.kind == "database"
        else f"DROP SCHEMA IF EXISTS {side.name} CASCADE"
    )
    with db.connect(side.server_url) as admin:
        admin.execute([drop], autocommit=True)
    return f"{side.kind} {side.name} dropped"


STEPS = (
    step_move_sample,
    step_move_sync_start,
    step_move_catch_up,
    step_move_shadow,
    step_move_cutover,
    step_move_target_writes,
    step_move_rollback,
    step_move_final_diff,
)
CLEANUP = (step_move_cleanup,)


def run_move_demo(
    directory: Path,
    *,
    db_url: str | None,
    target: str | None = None,
    source: str = "sqlite",
    keep: bool = False,
) -> Any:
    """Create the demo workspace in `directory`, the two sides, and run the chapter; the
    cleanup steps run whatever failed."""
    from datamigration.demo.runner import (
        DemoReport,
        _environment,
        _run_step,
        _write_config,
        prepare_directory,
    )
    from datamigration.workspace.root import Workspace

    check_sides(db_url, target, source)
    started = time.perf_counter()
    root = prepare_directory(directory)
    sides = provision(db_url, target, source, root)
    env = {k: v for s in sides.values() if isinstance(s, DemoDatabase) for k, v in s.env.items()}
    results = []
    with _environment(env):
        _write_config(root, _url_of(sides["source"]))
        ctx = DemoContext(
            workspace=Workspace.open(root),
            database_url=_url_of(sides["source"]),
            dialect=resolve(_url_of(sides["source"])).dialect,
            keep=keep,
        )
        ctx.facts.update(sides=sides, source_kind=source)
        try:
            results += [_run_step(step, ctx) for step in STEPS]
        finally:
            results += [_run_step(step, ctx) for step in CLEANUP]
    redacted = {k: (v.redacted if isinstance(v, DemoDatabase) else v) for k, v in sides.items()}
    return DemoReport(
        root,
        f"{redacted['source']} -> {redacted['target']}",
        tuple(results),
        time.perf_counter() - started,
        dialect=ctx.dialect,
    )


def _url_of(side: Any) -> str:
    return side.config_url if isinstance(side, DemoDatabase) else str(side)
