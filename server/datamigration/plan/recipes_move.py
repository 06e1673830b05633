"""The `move_table` recipe: a zero-downtime move of a table to another database.

Why a plan at all when `copy_data` and `sync` exist: a move is a migration like any other,
reviewed by hash, confirmed, resumable and recorded on the story. The pattern is
`dual_write_cdc` and the plan has six phases, each a step the executor runs:

* prepare: `sync_start` creates the capture on the source (slot and publication, or change
  table and triggers) BEFORE the snapshot, then copies and streams in a background process
  (`move.sync.runner.start_sync`); its reverse stops the sync and removes the capture;
* snapshot: `sync_catch_up` waits for the snapshot copy to finish (its validation inside);
* catch-up: `sync_catch_up` waits until the lag is under the plan's bound;
* shadow: `shadow_reads` replays a sample of reads on both sides; more mismatches than the
  bound stop the plan before anything switches;
* cutover: `cutover` pauses writes briefly, drains, diffs, flips the read/write flag and
  starts the reverse capture; its reverse is the rollback after cutover;
* decommission: a manual step, destructive: the source table stays until the team decides;
  the backup gate covers it like every step that can lose data.

The run name is derived from the table and the target (`run_name`), so the same move planned
twice names the same sync run (its state on the target is found again). The target is named
in the spec (`target`): a connection name or a URL whose password comes from the environment
(`${VAR}`); a literal password would be stored in the plan and is refused.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from typing import Any

from datamigration.db.dialect import find_dialect
from datamigration.db.urls import ConnectionURL, resolve
from datamigration.errors import UserInputError
from datamigration.plan import estimate as est
from datamigration.plan.model import Operation
from datamigration.plan.ops_base import manual_op
from datamigration.plan.toolkit import Ctx, recipe, step, table_of

#: spec.cutover defaults: the lag the cutover waits for, the longest write pause
DEFAULT_LAG_MAX_S = 5.0
DEFAULT_PAUSE_MAX_MS = 1_000
DEFAULT_SHADOW_SAMPLE = 10_000
#: the run name leaves room for the reverse run's `_back` within the 40 characters of a run
RUN_NAME_MAX = 35


def run_name(table: str, target: str) -> str:
    """`mv_<table>_<hash of table and target>`: lower-case, `^[a-z0-9_]{1,35}$`."""
    digest = hashlib.sha256(f"{table}\n{target}".encode()).hexdigest()[:8]
    base = re.sub(r"[^a-z0-9]+", "_", table.lower()).strip("_")[:20] or "t"
    return f"mv_{base}_{digest}"[:RUN_NAME_MAX]


def _target_url(target: str) -> ConnectionURL | None:
    if "${" in target or "://" not in target:
        return None  # a name or an environment variable: resolved at run time
    try:
        return resolve(target, None)
    except Exception:  # noqa: BLE001 - resolved again (and refused clearly) at run time
        return None


def _check_target(url: ConnectionURL | None) -> None:
    if url is not None and url.password:
        raise UserInputError(
            "the move_table target carries a password, which the stored plan would keep",
            hint="Name a connection from datamigration.toml, or write the password as ${VAR}.",
        )


def _documents(url: ConnectionURL | None) -> bool:
    d = find_dialect(url.dialect) if url is not None else None
    return bool(d is not None and d.documents)


def _settings(spec: Any, table: str) -> dict[str, Any]:
    """The cutover's knobs from `spec.cutover`, with defaults."""
    cut = dict(spec.get("cutover") or {})
    write_pause = cut.get("write_pause", "lock")
    if write_pause not in ("lock", "flag"):
        raise UserInputError(
            f"cutover.write_pause is {write_pause!r}",
            hint='Use "lock" (a lock on the source table) or "flag" (the application\'s flag).',
        )
    return {
        "lag_max_s": float(cut.get("lag_max_s", DEFAULT_LAG_MAX_S)),
        "pause_max_ms": int(cut.get("pause_max_ms", DEFAULT_PAUSE_MAX_MS)),
        "write_pause": write_pause,
        "flag": str(cut.get("flag") or f"{table}_reads_from_target"),
        "pause_flag": str(cut.get("pause_flag") or f"{table}_writes_paused"),
        "flags_file": cut.get("flags_file"),
        "sample": int(cut.get("shadow_sample", DEFAULT_SHADOW_SAMPLE)),
        "max_mismatches": int(cut.get("max_mismatches", 0)),
    }


def _op(c: Ctx, kind: str, description: str, params: dict[str, Any], **kw: Any) -> Operation:
    return Operation(id="", kind=kind, dialect=c.d.name, description=description,
                     lock_timeout_ms=None, params=params, **kw)  # fmt: skip


@recipe("move_table")
def move_table(c: Ctx) -> None:
    spec = c.spec
    t = table_of(c.schema, spec.table)
    target = str(spec.get("target"))
    url = _target_url(target)
    _check_target(url)
    if spec.get("target_table") and spec.get("target_table") != t.name:
        raise UserInputError(
            "move_table keeps the table's name on the target (renaming on the way is not "
            "supported yet)",
            hint="Drop target_table, then rename the table with a rename_table plan.",
        )
    s = _settings(spec, t.name)
    s["documents"] = _documents(url)
    run = run_name(t.name, target)
    rates = est.move_rates(s["documents"])
    base: dict[str, Any] = {"run": run, "target": target, "tables": [t.name]}
    if spec.get("mapping"):
        base["mapping"] = str(spec.get("mapping"))
    c.built.steps += [
        _prepare(c, t.name, base),
        _wait(
            c,
            "snapshot",
            "Snapshot copy of " + t.name,
            f"wait for sync {run}'s snapshot copy",
            f"Wait until the background sync has copied every row of {t.name} to {target} "
            "and validated the copy (counts and checksum diff); changes written meanwhile "
            "are captured since the prepare step.",
            base | {"until": "snapshot", "timeout_s": 86_400} | rates,
        ),
        _wait(
            c,
            "catch_up",
            "Catch up with the source",
            f"wait until sync {run} lags at most {s['lag_max_s']:g} s",
            f"Wait until the changes made to {t.name} during the snapshot are applied and "
            f"the lag stays under {s['lag_max_s']:g} s.",
            base | {"until": "lag", "lag_max_s": s["lag_max_s"], "timeout_s": 3_600} | rates,
            monitoring={"sync_lag_seconds_max": s["lag_max_s"]},
        ),
        _shadow(c, target, t.name, s, base),
        _cutover(c, t.name, target, s, base),
        _decommission(c, t.name, target, run),
    ]
    c.built.tables.append(t.name)


def _prepare(c: Ctx, table: str, base: dict[str, Any]) -> Any:
    run = base["run"]
    stop = _op(c, "sync_start", f"stop sync {run} and remove its capture objects",
               {"run": run, "target": base["target"], "teardown": True})  # fmt: skip
    start = _op(
        c,
        "sync_start",
        f"start sync {run}: capture changes of {table} (method auto), then snapshot copy and "
        "streaming in the background",
        base | {"method": "auto"},
        reverse=(stop,),
    )
    return step(
        "prepare",
        "Start change capture, snapshot and streaming",
        f"Create the capture on the source before the copy (nothing written during the copy "
        f"is missed), then copy {table} and stream its changes in a background process. "
        "Refused with the fix when the source cannot capture (wal_level, keyless table).",
        [start],
    )


def _wait(
    c: Ctx, phase: str, title: str, desc: str, what: str, params: dict[str, Any], **kw: Any
) -> Any:
    op = _op(c, "sync_catch_up", desc, params, mutating=False)
    return step(phase, title, what, [op], gates=(), **kw)


def _shadow(c: Ctx, target: str, table: str, s: dict[str, Any], base: dict[str, Any]) -> Any:
    params = {"target": target, "tables": [table], "sample": s["sample"],
              "max_mismatches": s["max_mismatches"]}  # fmt: skip
    if "mapping" in base:
        params["mapping"] = base["mapping"]
    op = _op(c, "shadow_reads", f"shadow reads: {s['sample']} keys of {table} read on both "
             f"sides, at most {s['max_mismatches']} mismatch(es)", params, mutating=False)  # fmt: skip
    return step(
        "shadow",
        "Shadow reads: prove the target answers like the source",
        "Replay a sample of reads against the source and the target and compare; more "
        "mismatches than the bound stop the plan before anything switches.",
        [op],
        gates=(),
        monitoring={"shadow_mismatches_max": s["max_mismatches"]},
    )


def _cutover(c: Ctx, table: str, target: str, s: dict[str, Any], base: dict[str, Any]) -> Any:
    params = base | {k: s[k] for k in ("lag_max_s", "pause_max_ms", "write_pause", "flag")}
    if s["write_pause"] == "flag":
        params["pause_flag"] = s["pause_flag"]
    if s["flags_file"]:
        params["flags_file"] = s["flags_file"]
    if s["documents"]:  # no capture on a document store: the writes are recorded, not replayed
        way_back = "record the target's writes made after the cutover"
        undo = (f"roll back the cutover: flip {s['flag']} back and report the target's writes "
                "made since (the application's flag keeps writes dual where they are not replayed)")  # fmt: skip
    else:
        way_back = "start the reverse capture"
        undo = (f"roll back the cutover: replay the target's new writes to {table} on the "
                f"source, then flip {s['flag']} back")  # fmt: skip
    back = _op(c, "cutover", undo, params | {"rollback": True})  # the same pause, the other side
    how = (f"lock on {table} (EXCLUSIVE: reads go on)" if s["write_pause"] == "lock"
           else f"the application's flag {s['pause_flag']}")  # fmt: skip
    op = _op(
        c,
        "cutover",
        f"cut over {table} to {target}: lag under {s['lag_max_s']:g} s, writes paused by "
        f"{how} for at most {s['pause_max_ms']} ms, drain, final checksum diff, flip "
        f"{s['flag']}, {way_back}",
        params,
        reverse=(back,),
        lock=f"{table}: EXCLUSIVE, at most {s['pause_max_ms']} ms"
        if s["write_pause"] == "lock"
        else "",
    )
    return step(
        "cutover",
        f"Cut over: reads and writes of {table} go to the target",
        "Pause writes briefly, drain the last changes, prove the two sides equal (checksum "
        "diff, else nothing flips), flip the flag, release. The source stays intact and the "
        "target's new writes flow back to it, so the rollback loses nothing.",
        [op],
        monitoring={
            "write_pause_ms_max": s["pause_max_ms"],
            "sync_lag_seconds_max": s["lag_max_s"],
        },
    )


def _decommission(c: Ctx, table: str, target: str, run: str) -> Any:
    text = (
        f"Keep {table} on the source until the team decides the move is final. Then stop the "
        f"reverse sync (`datamigration sync stop {run}_back`) and archive or drop {table} on "
        f"the source. Dropping it loses the way back: take a verified backup first."
    )
    op = manual_op(f"decommission {table} on the source", text, dialect=c.d.name)
    op = replace(op, destructive=True)
    return step("decommission", f"Decommission {table} on the source", text, [op],
                reversible=False)  # fmt: skip
