"""Cutover of a sync run, and the rollback after it.

`cutover` waits until the run's lag is under its bound, then switches (move/sync/switch.py):
writes to the source pause briefly, the run drains past the source's position, the checksum
diff must be empty, the read/write flag flips (`<table>_reads_from_target` by default, in the
flagd file), the pause ends. The source stays intact. Where the target is a SQL database, a
reverse capture (`<run>_back`) is prepared on it before the pause and its position is taken
at the flip, and after the release a sync run target → source starts from there (its snapshot
skipped): only the writes made after the cutover flow back. `rollback_cutover` does the same
switch the other way (pause the target, drain `<run>_back`, diff, flip the flag back) and
stops the way back. A MongoDB target has no reverse capture: its writes after the cutover are
reported, and the application's flag keeps writes dual where it was written so.

Every phase change is posted on the bus and recorded on the story; the measured write pause is
part of the report. A record of the cutover (`.datamigration/cutover/<run>.json`) lets the
rollback find both sides later; it holds no password.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from datamigration.atomic import atomic_write
from datamigration.coordination.announce import post_status
from datamigration.db import connect
from datamigration.db.urls import resolve
from datamigration.errors import DataMigrationError, NotFoundError, UserInputError
from datamigration.move.sync import switch as sw
from datamigration.workspace.root import Workspace

Progress = Callable[[str, dict[str, Any]], None]
RUN_NAME = re.compile(r"^[a-z0-9_]{1,35}$")
FLAG_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
BACK_SUFFIX = "_back"


@dataclass(frozen=True)
class CutoverRequest:
    """One cutover (or its rollback) of sync run `run`. Source, target and tables come from
    the run (`sync_status`) unless given; `flag` defaults to `<first table>_reads_from_target`."""

    run: str
    workspace: str
    lag_max_s: float = 5.0
    pause_max_ms: int = 1_000
    write_pause: str = "lock"
    flag: str | None = None
    pause_flag: str | None = None
    flags_file: str | None = None
    source: str | None = None
    target: str | None = None
    tables: tuple[str, ...] = ()
    mapping: Mapping[str, Any] | None = None
    wait_s: float = 600.0
    story: str | None = None

    def checked(self) -> CutoverRequest:
        """Refuse a malformed run or flag name, a bad bound or pause method (model input)."""
        if not RUN_NAME.fullmatch(self.run or ""):
            raise UserInputError(f"run name {self.run!r} is not a sync run's name",
                                 hint="Run names match ^[a-z0-9_]{1,35}$ (see sync status).")  # fmt: skip
        for name in (self.flag, self.pause_flag):
            if name is not None and not FLAG_NAME.fullmatch(name):
                raise UserInputError(f"flag name {name!r} is not allowed",
                                     hint="Use letters, digits, _ . - (at most 100).")  # fmt: skip
        if self.write_pause not in ("lock", "flag"):
            raise UserInputError(f"write_pause {self.write_pause!r}", hint="Use lock or flag.")
        if not 0 < self.lag_max_s <= 3600 or not 10 <= self.pause_max_ms <= 600_000:
            raise UserInputError("lag_max_s must be in (0, 3600] and pause_max_ms in [10, 600000]",
                                 hint="e.g. lag_max_s=5, pause_max_ms=1000.")  # fmt: skip
        return self


def _record_path(ws: Workspace, run: str) -> Any:
    return ws.state_dir / "cutover" / f"{run}.json"


def _storable(url: str | None, ws: Workspace) -> str | None:
    """The URL as given when it holds no literal password (names and ${VAR} are fine)."""
    if not url:
        return None
    try:
        return None if resolve(url, ws).password and "${" not in url else url
    except DataMigrationError:
        return url


def _save(ws: Workspace, run: str, record: dict[str, Any]) -> None:
    path = _record_path(ws, run)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(record, indent=2, default=str) + "\n")


def _load(ws: Workspace, run: str) -> dict[str, Any]:
    path = _record_path(ws, run)
    if not path.is_file():
        raise NotFoundError(f"no cutover of sync run {run} is recorded in this workspace",
                            hint="Cut over first (tool cutover, run=...).", run=run)  # fmt: skip
    return dict(json.loads(path.read_text(encoding="utf-8")))


class _Say:
    """Progress to the caller, phase changes to the bus and the story."""

    def __init__(self, ws: Workspace, req: CutoverRequest, progress: Progress | None) -> None:
        self.ws, self.req, self.progress, self.notes = ws, req, progress, []

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        if self.progress is not None:
            self.progress(event, data)

    def phase(self, phase: str, state: str, **extra: Any) -> None:
        text = f"Sync {self.req.run}: {phase} {state}"
        if extra.get("pause_ms") is not None:
            text += f" (write pause {extra['pause_ms']:.0f} ms)"
        note = post_status(self.ws, text, self.req.story, status=f"{phase}:{state}",
                           run=self.req.run, **extra)  # fmt: skip
        self.notes += [note] if note else []
        self._story(phase, state, extra)
        self("phase", {"phase": phase, "state": state, **extra})

    def _story(self, phase: str, state: str, extra: dict[str, Any]) -> None:
        if not self.req.story:
            return
        from datamigration.coordination import status

        fields = {"sync": {"run": self.req.run, "phase": phase, "state": state,
                           "pause_ms": extra.get("pause_ms")}}  # fmt: skip
        try:
            status.update_story(self.ws, self.req.story, fields=fields)
        except DataMigrationError as exc:
            self.notes.append(f"status.json: {exc.message}")


def _sides(req: CutoverRequest, ws: Workspace) -> sw.Sides:
    """The forward direction: the request's sides, else the run's own (its local record)."""
    from datamigration.move.sync.control import RunFiles

    spec = RunFiles(ws, req.run).spec()
    source = req.source or (spec.source if spec else None)
    target = req.target or (spec.target if spec else None)
    tables = req.tables or (spec.tables if spec else ())
    if not source or not target or not tables:
        raise UserInputError(f"sync run {req.run} has no local record of its source, target "
                             "and tables (a URL with a password is not recorded)",
                             hint="Pass source, target and tables.", run=req.run)  # fmt: skip
    mapping = req.mapping or (spec.mapping if spec else None)
    resolved = None
    if mapping:
        from datamigration.move.mapping import resolve_mapping

        with connect(source, ws) as backend:
            resolved = resolve_mapping(mapping, backend.inspect())
    status = sw.sync_status(req.run, ws, target=target, source=source)
    method = str(status.get("method") or (spec.method if spec else "auto") or "auto")
    return sw.Sides(req.run, source, target, tuple(tables), method, resolved, (source, target))


def _flag_setter(ws: Workspace, key: str, flags_file: str | None) -> Callable[[bool], Any]:
    """Sets flag `key` for everyone; the flag is created now (serving the old side) so the
    flip under the pause is one short write."""
    from datamigration.safety import flags

    flags.ensure_flag(ws, key, flags_file=flags_file)
    return lambda on: flags.serve_all(ws, key, on, flags_file=flags_file)


def _pause_setter(req: CutoverRequest, ws: Workspace, sides: sw.Sides) -> Callable[[bool], Any]:
    """The application's pause flag, made only when the pause is by flag."""
    if req.write_pause != "flag":
        return lambda on: None
    return _flag_setter(ws, req.pause_flag or f"{sides.tables[0]}_writes_paused", req.flags_file)


def _prepare_reverse(sides: sw.Sides, ws: Workspace) -> Any:
    """The capture of the target's writes (`<run>_back`), made before the pause; None where
    the target cannot capture (a document store)."""
    back = connect(sides.dest, ws)
    if not back.capture_methods:
        back.close()
        return None
    capture = back.change_capture(sides.run + BACK_SUFFIX, sides.tables, method="auto")
    capture.prepare()
    return capture


def cutover(req: CutoverRequest, *, progress: Progress | None = None) -> dict[str, Any]:
    """Cut sync run `req.run` over to its target (see the module docstring)."""
    req = req.checked()
    ws = Workspace.open(req.workspace)
    say = _Say(ws, req, progress)
    if _record_path(ws, req.run).is_file() and _load(ws, req.run).get("state") == "cut_over":
        rec = _load(ws, req.run)  # a re-run after the flip (a crash, a resumed plan): done
        return {"run": req.run, "cut_over": True, "already": True, "flag": rec["flag"],
                "write_pause_ms": rec.get("pause_ms"), "diff": {"identical": True},
                "way_back": {"run": rec.get("back_run")}, "source_kept": True, "notes": []}  # fmt: skip
    sides = _sides(req, ws)
    flag = req.flag or f"{sides.tables[0]}_reads_from_target"
    say.phase("cutover", "started", lag_max_s=req.lag_max_s, pause_max_ms=req.pause_max_ms)
    sw.wait_for_lag(req.run, ws, req.lag_max_s, req.wait_s, say, target=sides.dest,
                    source=sides.origin)  # fmt: skip
    flip = _flag_setter(ws, flag, req.flags_file)  # created now, serving the source
    reverse = _prepare_reverse(sides, ws)
    try:
        done = sw.switch(
            sides, ws, how=req.write_pause, pause_max_ms=req.pause_max_ms,
            pause_flag=_pause_setter(req, ws, sides), flip=lambda: flip(True),
            reverse=reverse, say=say,
        )  # fmt: skip
    except DataMigrationError as exc:
        if reverse is not None:
            reverse.teardown()
            reverse.backend.close()
        say.phase("cutover", "aborted", error=exc.message, pause_ms=exc.data.get("pause_ms"))
        raise
    settled = sw.settle(sides, ws)
    _stop(sides, ws, status="cut_over")
    way_back = _start_back(sides, ws, reverse, done.reverse_from)
    record = {
        "run": req.run, "state": "cut_over", "at": _now(), "flag": flag,
        "flags_file": req.flags_file, "source": _storable(sides.origin, ws),
        "target": _storable(sides.dest, ws), "tables": list(sides.tables),
        "method": sides.method, "back_run": way_back.get("run"), "pause_ms": done.pause_ms,
        "write_pause": req.write_pause, "pause_flag": req.pause_flag,
        "mapping": dict(req.mapping) if req.mapping else None,
    }  # fmt: skip
    _save(ws, req.run, record)
    say.phase("cutover", "completed", pause_ms=done.pause_ms, flag=flag)
    return {
        "run": req.run, "cut_over": True, "flag": flag, "write_pause_ms": done.pause_ms,
        "paused_by": done.paused_by, "lag_before_s": done.lag_before_s,
        "drain_ms": done.drain_ms, "diff_ms": done.diff_ms,
        "diff": done.diff, "drained_to": done.drained_to,
        "settled_to": settled, "way_back": way_back, "source_kept": True,
        "notes": say.notes,
    }  # fmt: skip


def _start_back(sides: sw.Sides, ws: Workspace, reverse: Any, start_at: Any) -> dict[str, Any]:
    """Start the reverse run target → source from the position taken at the flip: its state
    row is written first (running: the process is on its way) with the snapshot marked
    skipped and that position, so only the
    writes made after the cutover flow back."""
    if reverse is None:
        return {"run": None, "writes_after_cutover": _document_writes_note(sides)}
    reverse.backend.close()
    from datamigration.db.syncstate import SYNC_STATE_TABLE, now_text, sync_record
    from datamigration.move.sync.control import spawn
    from datamigration.move.sync.request import SyncRequest

    run = sides.run + BACK_SUFFIX
    request = SyncRequest(source=sides.dest, target=sides.origin, tables=sides.tables, run=run,
                          workspace=str(ws.root))  # fmt: skip
    info = {"tables": list(sides.tables), "started": now_text(), "method": "auto",
            "snapshot": {"skipped": f"the way back of {sides.run}: only writes after the "
                                    "cutover flow back"}}  # fmt: skip
    with connect(sides.origin, ws) as src:
        store = src.sync_state_table(SYNC_STATE_TABLE)
        store.ensure()
        store.put(sync_record(run_id=run, status="running", fingerprint=request.fingerprint(),
                              position=list(start_at) if start_at else None, info=info))  # fmt: skip
    try:
        started = spawn(request, ws)
    except DataMigrationError as exc:  # the flag is flipped: say how to start it, do not undo
        return {"run": run, "error": exc.message, "hint": "Start it by hand: sync start with "
                f"run {run}, source = the target, target = the source, the same tables."}  # fmt: skip
    return {"run": run, "pid": started.get("pid"), "from_position": start_at}


def _document_writes_note(sides: sw.Sides) -> str:
    return (
        "the target is a document store without a capture: writes made to it after the "
        "cutover are not replayed to the source; keep the application writing both sides "
        "(its flag) until the move is final, or the rollback reports them as lost"
    )


def _stop(sides: sw.Sides, ws: Workspace, *, status: str | None = None) -> dict[str, Any]:
    """Stop run `sides.run` and remove its capture from its source; mark its row `status`."""
    from datamigration.db.syncstate import SYNC_STATE_TABLE
    from datamigration.move.sync.control import stop_sync

    out = stop_sync(ws, sides.run, teardown=True, target=sides.dest, source=sides.origin)
    if status:
        with connect(sides.dest, ws) as dst:
            dst.sync_state_table(SYNC_STATE_TABLE).update(sides.run, status=status)
    return dict(out)


def rollback_cutover(req: CutoverRequest, *, progress: Progress | None = None) -> dict[str, Any]:
    """Undo the cutover of `req.run`: the target's writes since go back to the source, then
    the flag flips back (see the module docstring)."""
    req = req.checked()
    ws = Workspace.open(req.workspace)
    say = _Say(ws, req, progress)
    rec = _load(ws, req.run)
    if rec.get("state") != "cut_over":
        raise UserInputError(f"sync run {req.run} is {rec.get('state')}, not cut over",
                             hint="Nothing to roll back.", run=req.run)  # fmt: skip
    source = req.source or rec.get("source")
    target = req.target or rec.get("target")
    if not source or not target:
        raise UserInputError("the cutover record holds no URL for a side (it had a password)",
                             hint="Pass source and target again.")  # fmt: skip
    tables = tuple(rec["tables"])
    flag = rec["flag"]
    if req.write_pause == "lock" and rec.get("write_pause") == "flag":  # as at the cutover
        req = replace(req, write_pause="flag", pause_flag=req.pause_flag or rec.get("pause_flag"))
    unflip = _flag_setter(ws, flag, rec.get("flags_file"))
    say.phase("rollback", "started")
    back_run = rec.get("back_run")
    if not back_run:  # a document target: flip back and say what stays on the target
        unflip(False)
        out = {"run": req.run, "rolled_back": True, "flag": flag, "write_pause_ms": None,
               "replayed": None, "writes_after_cutover": _document_writes_note(
                   sw.Sides(req.run, source, target, tables))}  # fmt: skip
    else:
        out = _roll_back_sql(req, ws, say, source, target, tables, back_run, unflip)
        out["flag"] = flag
    _save(ws, req.run, rec | {"state": "rolled_back", "rolled_back_at": _now(),
                              "rollback_pause_ms": out["write_pause_ms"]})  # fmt: skip
    say.phase("rollback", "completed", pause_ms=out["write_pause_ms"], flag=flag)
    return out | {"notes": say.notes}


def _roll_back_sql(
    req: CutoverRequest, ws: Workspace, say: _Say, source: str, target: str,
    tables: tuple[str, ...], back_run: str, unflip: Callable[[bool], Any],
) -> dict[str, Any]:  # fmt: skip
    """Pause the target, drain the way back, diff, flip the flag back, stop the way back."""
    status = sw.wait_for_lag(back_run, ws, req.lag_max_s, req.wait_s, say, target=source,
                             source=target)  # fmt: skip
    sides = sw.Sides(back_run, target, source, tables,
                     str(status.get("method") or "auto"), None, (source, target))  # fmt: skip
    done = sw.switch(
        sides, ws, how=req.write_pause, pause_max_ms=req.pause_max_ms,
        pause_flag=_pause_setter(req, ws, sides),
        flip=lambda: unflip(False), reverse=None, say=say,
    )  # fmt: skip
    sw.settle(sides, ws)
    replayed = sw.sync_status(back_run, ws, target=source, source=target).get("applied")
    _stop(sides, ws)
    return {"run": req.run, "rolled_back": True, "write_pause_ms":
            done.pause_ms, "paused_by": done.paused_by, "diff": done.diff,
            "replayed": replayed, "way_back_stopped": back_run}  # fmt: skip


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def request_dict(req: CutoverRequest) -> dict[str, Any]:
    """The request as plain data (for the confirmation's payload)."""
    return {k: v for k, v in asdict(req).items() if v not in (None, (), {})}


def cutover_action(req: CutoverRequest, *, rollback: bool = False) -> Any:
    """What the user confirms: this run, this direction, these bounds and flags."""
    from datamigration.confirmation import Action

    if rollback:
        summary = (f"roll back the cutover of sync {req.run}: pause writes on the target, "
                   "replay its new writes to the source, flip the read/write flag back")  # fmt: skip
    else:
        summary = (f"cut over sync {req.run}: pause writes (at most {req.pause_max_ms} ms, by "
                   f"{req.write_pause}), drain, checksum diff, flip the read/write flag")  # fmt: skip
    payload = request_dict(req) | {"rollback": rollback}
    payload.pop("workspace", None)
    return Action("cutover_rollback" if rollback else "cutover", summary, payload)
