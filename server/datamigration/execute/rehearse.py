"""Staging rehearsal: run the plan on staging (or a throwaway copy) and time it, rollback too.

A plan's estimates come from measured sizes and a sampled backfill rate; a rehearsal replaces
guesses with the real thing on a database that may break. It runs every reversible step (timing
each), rolls them all back (timing the rollback, which proves it works), then runs the whole plan
to the end including the contract (timing that too), with the same executor and the same
Operation objects as production. The timings are recorded in the plan (`Plan.rehearsal`), which
gives the plan a new hash: the reviewed plan now carries its rehearsal.

Without a staging URL, a throwaway copy is made from the source: the schema, plus up to
`sample_rows` rows of each table the plan touches, and dropped afterwards (also on failure).
A MongoDB plan runs with its own executor (`executor_class`) and its copy is a sibling database
on the same server (db/mongodb/throwaway.py): each collection the plan touches with its options,
indexes and up to `sample_rows` documents.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable
from typing import Any

from datamigration.confirmation import Action
from datamigration.db.base import Backend, connect
from datamigration.errors import UserInputError
from datamigration.execute.executors import executor_class
from datamigration.execute.runner import RunOptions
from datamigration.execute.selection import select_rollback, select_steps
from datamigration.plan import store
from datamigration.plan.documents import plan_markdown
from datamigration.plan.model import Plan
from datamigration.redact import redact_url
from datamigration.workspace.root import Workspace


def _collections(plan: Plan) -> list[str]:
    """The collections a MongoDB plan touches: its estimates, its spec, its document operations
    (forward and rollback), never the run-state collection."""
    ops = [o for s in plan.steps for o in (*s.operations, *s.rollback) if o.kind == "document"]
    names = plan.tables + [str(o.params.get("collection") or "") for o in ops]
    return [n for n in dict.fromkeys(names) if n and not n.startswith("_datamigration")]


def _make_throwaway(plan: Plan, source: str, backend: Backend, workspace: Workspace, name: str,
                    sample_rows: int) -> tuple[str, dict[str, int]]:  # fmt: skip
    """Create the throwaway copy `name` next to the source: its URL and the rows copied."""
    if backend.documents:
        from datamigration.db.mongodb import throwaway as mongo_copy

        return mongo_copy.throwaway_copy(backend, name, _collections(plan), sample_rows)  # type: ignore[arg-type]
    staging = backend.throwaway_database(name)
    return staging, _sample(source, staging, workspace, plan.tables, sample_rows)


def _drop_throwaway(plan: Plan, backend: Backend, name: str) -> None:
    if backend.documents:
        from datamigration.db.mongodb import throwaway as mongo_copy

        mongo_copy.drop_throwaway(backend, name)  # type: ignore[arg-type]
    else:
        backend.drop_throwaway(name)


def _sample(source_url: str, staging_url: str, workspace: Workspace, tables: list[str],
            sample_rows: int) -> dict[str, int]:  # fmt: skip
    copied: dict[str, int] = {}
    with connect(source_url, workspace) as src, connect(staging_url, workspace) as dst:
        schema = src.inspect()
        dst.skip_foreign_keys()
        wanted = set(tables)
        # parents first, so references hold even where FK checks cannot be switched off
        ordered = sorted(
            (t for t in schema.tables if t.name in wanted or not wanted),
            key=lambda t: len(t.foreign_keys),
        )
        for t in ordered:
            key = list(t.primary_key.columns) if t.primary_key else [t.columns[0].name]
            cols = [c.name for c in t.columns if not getattr(c, "generated", None)]
            n = 0
            for batch in src.iter_rows(t.qualified_name, key, cols, batch_size=2000):
                rows = batch.rows[: max(0, sample_rows - n)]
                n += dst.insert_rows(t.qualified_name, cols, rows)
                if n >= sample_rows:
                    break
            copied[t.name] = n
    return copied


def prepare_rehearsal(plan: Plan, staging: str | None) -> Action:
    where = redact_url(staging) if staging else "a throwaway copy of the plan's database"
    return Action(
        kind="rehearse_plan",
        summary=f"Rehearse plan {plan.id}: run every step, roll back, run again, on {where}. "
        "That database is changed (and a throwaway copy is dropped afterwards).",
        payload={
            "plan": plan.id,
            "hash": plan.hash,
            "staging": redact_url(staging) if staging else None,
        },
    )


def rehearse(
    workspace: Workspace,
    plan: Plan,
    *,
    staging: str | None,
    source: str | None,
    sample_rows: int = 10_000,
    batch_size: int | None = None,
    progress: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run the rehearsal and return its record (also what goes into `Plan.rehearsal`)."""
    throwaway: str | None = None
    copied: dict[str, int] = {}
    started = time.perf_counter()
    source_backend = None
    if staging is None and not source:
        raise UserInputError(
            "a rehearsal needs a staging database or the source to copy from",
            hint="Pass --staging URL, or --db URL to rehearse on a throwaway copy of it.",
        )
    options = RunOptions(batch_size=batch_size, progress=progress, finish_story=False,
                         announce=False, log_name=f"{plan.id}.rehearsal",
                         backup_gate=False)  # fmt: skip
    record: dict[str, Any] = {}
    try:
        if staging is None:
            assert source is not None
            source_backend = connect(source, workspace)
            throwaway = f"dm_rehearsal_{secrets.token_hex(4)}"
            staging, copied = _make_throwaway(plan, source, source_backend, workspace, throwaway,
                                              sample_rows)  # fmt: skip
        record.update(
            database=redact_url(staging),
            throwaway_copy=throwaway is not None,
            sampled_rows=copied,
            at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        with executor_class(plan)(workspace, plan, staging, options) as ex:
            reversible = [s for s in plan.steps if s.reversible]
            forward = []
            for s in reversible:
                out = ex.run(select_steps(plan, ex.states(), step=s.id))
                forward += [{"step": r["step"], "seconds": r["seconds"]} for r in out["steps"]]
            t0 = time.perf_counter()
            back = ex.run(select_rollback(plan, ex.states(), all_steps=True))
            record["rollback_seconds"] = round(time.perf_counter() - t0, 3)
            record["rollback_steps"] = [
                {"step": r["step"], "seconds": r["seconds"]} for r in back["steps"]
            ]
            t0 = time.perf_counter()
            again = ex.run(select_steps(plan, ex.states(), all_steps=True))
            record["full_run_seconds"] = round(time.perf_counter() - t0, 3)
            record["steps"] = forward + [
                {"step": r["step"], "seconds": r["seconds"]}
                for r in again["steps"]
                if r["step"] not in {f["step"] for f in forward}
            ]
            record["passed"] = not again.get("remaining")
    finally:
        if source_backend is not None:
            try:
                if throwaway is not None:
                    _drop_throwaway(plan, source_backend, throwaway)
            finally:
                source_backend.close()
    record["seconds"] = round(time.perf_counter() - started, 3)
    return record


def record_in_plan(workspace: Workspace, plan: Plan, record: dict[str, Any]) -> Plan:
    """Store the rehearsal in the plan (new hash), and refresh the reviewed copy under docs/."""

    updated = dataclasses.replace(plan, rehearsal=record)
    updated = dataclasses.replace(updated, hash=updated.compute_hash())
    store.save_plan(workspace, updated)
    docs = store.docs_plan_dir(workspace, plan.id)
    if docs.is_dir():
        (docs / "plan.json").write_text(store.plan_json_text(updated), encoding="utf-8")

        (docs / "plan.md").write_text(plan_markdown(updated), encoding="utf-8")
    return updated
