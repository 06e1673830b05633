"""Running a sync: capture on the source, snapshot copy, then read → apply → acknowledge.

`start_sync` is the one function the CLI (`datamigration sync start`, foreground or the
detached daemon) and the MCP tool (`sync action=start`) call. In order:

1. the run's state row on the target is created, or taken over after a stop or a crash
   (a changed table list or mapping under the same run name is refused: fingerprint);
2. the capture is prepared on the source (slot and publication, or triggers) BEFORE the
   snapshot, so nothing written during the copy is missed;
3. the snapshot copy runs through the copy engine (`move.run_copy`, same mapping; a copy cut
   short by a crash resumes); changes made during it are applied afterwards as upserts;
4. the loop reads a batch, applies it (SQL: with the position in the same transaction),
   acknowledges it to the capture, and records applied count, apply rate and lag; it ends when
   the state says `stopping` (`stop_sync`, from any process) or `stop_when(status)` is true.

A SIGKILL at any point leaves the position matching the target, so a restart with the same
run resumes from it: nothing lost (the capture replays what was not acknowledged), nothing
doubled (the applier drops what is at or before the position).
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from datamigration.db import connect
from datamigration.db.capture import CAPTURE_PREFIX
from datamigration.db.syncstate import SYNC_STATE_TABLE, now_text, sync_record
from datamigration.move.sync.appliers import applier_for
from datamigration.move.sync.control import RunFiles
from datamigration.move.sync.file_capture import DebeziumFileCapture
from datamigration.move.sync.request import SyncRefusedError, SyncRequest

Progress = Callable[[str, dict[str, Any]], None]
#: seconds between writes of the lag and rate figures to the state row
FIGURES_EVERY_S = 1.0
RATE_WINDOW_S = 10.0


def _quiet(event: str, data: dict[str, Any]) -> None:
    return None


def claim(store: Any, request: SyncRequest, files: RunFiles, labels: dict[str, str]) -> dict:
    """The run's state row: new, or the existing one taken over (same fingerprint, and not
    running in another live process)."""
    run, fp = request.name, request.fingerprint()
    existing = store.get(run)
    if existing is None:
        info = {**labels, "tables": list(request.tables), "started": now_text(),
                "capture": CAPTURE_PREFIX + run, "method": request.method,
                "events_file": request.events_file}  # fmt: skip
        store.put(sync_record(run_id=run, status="running", fingerprint=fp, info=info))
        return store.get(run)
    if existing.get("fingerprint") != fp:
        raise SyncRefusedError(
            f"sync run {run} was started with other tables or another mapping: going on "
            "would leave the target half in one shape, half in the other",
            hint=f"Use the run's own tables and mapping (see sync action=status run={run}), or "
            "stop it (sync action=stop) and start under a new run name.",
            run=run,
        )
    other = files.pid()
    if existing.get("status") in ("running", "stopping") and files.alive() and other != os.getpid():
        raise SyncRefusedError(f"sync run {run} is running (process {other})", run=run)
    if existing.get("status") == "cut_over":
        raise SyncRefusedError(f"sync run {run} has been cut over", run=run,
                               hint="Start a new run name for another sync.")  # fmt: skip
    store.update(run, status="running")
    return store.get(run)


def copy_tables(request: SyncRequest) -> tuple[str, ...]:
    """The tables the snapshot copy is asked for: tables embedded by the mapping come with
    their root's documents."""
    embedded: set[str] = set()

    def walk(spec: dict[str, Any]) -> None:
        for e in spec.get("embed") or []:
            embedded.add(e["table"])
            walk(e)

    roots = set()
    for c in (request.mapping or {}).get("collections") or []:
        roots.add(c.get("root"))
        walk(c)
    return tuple(t for t in request.tables if t not in embedded or t in roots)


def snapshot(request: SyncRequest, store: Any, state: dict, progress: Progress) -> dict:
    from datamigration.move import CopyRequest, run_copy

    info = dict(state.get("info") or {})
    restarted = bool(info.get("snapshot_started"))
    store.update(request.name, info={**info, "snapshot_started": now_text()})
    copy = CopyRequest(
        request.source, request.target, copy_tables(request), workspace=request.workspace,
        mapping=request.mapping, resume=restarted, truncate=request.truncate,
        accept_conversions=request.accept_conversions, validate=False,
    )  # fmt: skip
    progress("snapshot", {"run": request.name, "tables": list(copy.tables)})
    report = run_copy(copy, progress=lambda e, d: progress(f"snapshot_{e}", d))
    summary = {"run_id": report.get("run_id"), "rows": report.get("rows_copied"),
               "passed": report.get("passed")}  # fmt: skip
    info = {**info, "snapshot_started": True, "snapshot": summary}
    store.update(request.name, info=info)
    return summary


class _Fetch:
    """Rows of the source for documents that embed them, on a read-only connection opened
    when first needed."""

    def __init__(self, request: SyncRequest, workspace: Any) -> None:
        self.request, self.ws, self.fetcher = request, workspace, None

    def __call__(self, *args: Any) -> Any:
        if self.fetcher is None:
            from datamigration.move.sql_fetch import SQLFetcher

            self.fetcher = SQLFetcher(self.request.source, self.ws)
        return self.fetcher(*args)

    def close(self) -> None:
        if self.fetcher is not None:
            self.fetcher.close()


def _mapped(request: SyncRequest, src: Any, dst: Any, fetch: _Fetch) -> dict[str, Any]:
    if not dst.documents:
        return {}
    if request.mapping is None:
        return {"fetch": fetch}
    from datamigration.move.mapping import resolve_mapping

    return {"mapping": resolve_mapping(request.mapping, src.inspect()), "fetch": fetch}


class Figures:
    """Apply rate over a sliding window, and the numbers `sync status` shows."""

    def __init__(self) -> None:
        self.window: deque[tuple[float, int]] = deque()
        self.written = 0.0

    def rate(self, applied: int) -> float:
        now = time.monotonic()
        self.window.append((now, applied))
        while len(self.window) > 2 and now - self.window[0][0] > RATE_WINDOW_S:
            self.window.popleft()
        t0, a0 = self.window[0]
        return round((applied - a0) / (now - t0), 1) if now > t0 else 0.0

    def due(self) -> bool:
        now = time.monotonic()
        if now - self.written >= FIGURES_EVERY_S:
            self.written = now
            return True
        return False


def run_loop(
    request: SyncRequest, store: Any, capture: Any, applier: Any, progress: Progress,
    stop_when: Callable[[dict[str, Any]], bool] | None,
) -> dict[str, Any]:  # fmt: skip
    run = request.name
    state = store.get(run) or {}
    position, applied = state.get("position"), int(state.get("applied") or 0)
    if position is not None:
        capture.ack(position)
    figures = Figures()
    lag: dict[str, Any] = {}
    while True:
        events = capture.read(request.batch_size)
        if events:
            result = applier.apply(run, events, position, applied)
            position, applied = result.position, applied + result.events
            if position is not None:
                capture.ack(position)
        due = figures.due() or not events
        if due:  # asking the source for its lag costs a query: once a second, or when idle
            lag = capture.lag()
        status = {"run": run, "applied": applied, "position": position, "batch": len(events),
                  "idle": not events, "rate": figures.rate(applied), "lag": lag}  # fmt: skip
        stored = store.get(run) or {}
        if due:
            store.update(run, figures={"lag": lag, "rate": status["rate"]})
        progress("batch", status)
        if stored.get("status") == "stopping" or (stop_when is not None and stop_when(status)):
            return status
        if not events:
            time.sleep(request.idle_s)


def start_sync(
    request: SyncRequest,
    *,
    progress: Progress | None = None,
    stop_when: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """Run the sync until it is stopped (see the module docstring); the last status."""
    from datamigration.db.urls import resolve
    from datamigration.workspace.root import Workspace

    progress = progress or _quiet
    ws = Workspace.open(request.workspace)
    files = RunFiles(ws, request.name)
    labels = {"target": resolve(request.target, ws).redacted}
    if not request.events_file:
        labels["source"] = resolve(request.source, ws).redacted
    with connect(request.target, ws) as dst:
        store = dst.sync_state_table(SYNC_STATE_TABLE)
        store.ensure()
        state = claim(store, request, files, labels)
        files.write_spec(request)
        files.write_pid()
        src = connect(request.source, ws) if not request.events_file or request.mapping else None
        fetch = _Fetch(request, ws)
        try:
            return _run(request, store, state, src, dst, fetch, progress, stop_when)
        except KeyboardInterrupt:
            store.update(request.name, status="stopped")
            raise
        except BaseException as exc:
            store.update(request.name, status="failed",
                         figures={"error": str(getattr(exc, "message", exc))[:500]})  # fmt: skip
            raise
        finally:
            fetch.close()
            if src is not None:
                src.close()
            files.clear_pid()


def _run(
    request: SyncRequest, store: Any, state: dict, src: Any, dst: Any, fetch: _Fetch,
    progress: Progress, stop_when: Callable[[dict[str, Any]], bool] | None,
) -> dict[str, Any]:  # fmt: skip
    if request.events_file:
        capture = DebeziumFileCapture(request.events_file, request.name, request.tables, store)
    else:
        capture = src.change_capture(request.name, request.tables, request.method)
    prepared = capture.prepare()
    info = dict((store.get(request.name) or {}).get("info") or {})
    store.update(request.name, info={**info, "method": getattr(capture, "method", ""),
                                     "prepared": _plain(prepared)})  # fmt: skip
    progress("start", {"run": request.name, "method": getattr(capture, "method", "")})
    if not request.events_file and not (state.get("info") or {}).get("snapshot"):
        snapshot(request, store, store.get(request.name) or state, progress)
    applier = applier_for(dst, store, **_mapped(request, src, dst, fetch))
    status = run_loop(request, store, capture, applier, progress, stop_when)
    store.update(request.name, status="stopped")
    progress("stop", status)
    return {**status, "status": "stopped"}


def _plain(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))
