"""A sync run's local files, the detached daemon, and `sync status` / `sync stop`.

Local files live in `.datamigration/sync/<run>/`: `request.json` (the request as given:
connection names or URLs whose secrets are `${VAR}` references, so no password is ever
written; a URL with a literal password is not written at all, and then status and stop need
the target named), `pid` (the process applying it, while it runs) and `log` (the daemon's
output). The durable state is the row on the target (`db/syncstate.py`); these files only
find it and the process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from datamigration.coordination.locking import pid_alive
from datamigration.errors import DataMigrationError, NotFoundError, UserInputError
from datamigration.move.sync.request import SyncRequest, check_run_name, literal_password

#: seconds `stop_sync` waits for the applying process to finish its batch and exit
STOP_WAIT_S = 30.0


class RunFiles:
    def __init__(self, workspace: Any, run: str) -> None:
        self.ws = workspace
        self.run = check_run_name(run)
        self.dir = Path(workspace.state_dir) / "sync" / run

    @property
    def spec_path(self) -> Path:
        return self.dir / "request.json"

    @property
    def log_path(self) -> Path:
        return self.dir / "log"

    def write_spec(self, request: SyncRequest) -> bool:
        if literal_password(request.source) or literal_password(request.target):
            return False
        self.dir.mkdir(parents=True, exist_ok=True)
        body = asdict(request) | {"tables": list(request.tables), "run": request.name}
        tmp = self.spec_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body, default=str, indent=1), encoding="utf-8")
        tmp.replace(self.spec_path)
        return True

    def spec(self) -> SyncRequest | None:
        if not self.spec_path.is_file():
            return None
        body = json.loads(self.spec_path.read_text(encoding="utf-8"))
        body["tables"] = tuple(body["tables"])
        return SyncRequest(**body)

    def pid(self) -> int | None:
        try:
            return int((self.dir / "pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def alive(self) -> bool:
        pid = self.pid()
        return pid is not None and pid_alive(pid)

    def write_pid(self, pid: int | None = None) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "pid").write_text(str(pid or os.getpid()))

    def clear_pid(self) -> None:
        if self.pid() == os.getpid():
            (self.dir / "pid").unlink(missing_ok=True)


def local_runs(workspace: Any) -> list[str]:
    root = Path(workspace.state_dir) / "sync"
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def spawn(request: SyncRequest, workspace: Any) -> dict[str, Any]:
    """Start `python -m datamigration.move.sync.daemon` for the run in the background. The
    daemon reads the request from the run's folder, so nothing secret is on its command line."""
    files = RunFiles(workspace, request.name)
    if not files.write_spec(request):
        raise UserInputError(
            "a detached sync cannot hold a password given in a URL",
            hint="Name a configured connection, or write the password as ${VAR} in the URL "
            "and export VAR.",
        )
    if files.alive():
        raise UserInputError(f"sync run {request.name} is running (process {files.pid()})",
                             hint="Check it with sync status, or stop it first.")  # fmt: skip
    log = files.log_path.open("ab")
    cmd = [sys.executable, "-m", "datamigration.move.sync.daemon",
           "--workspace", str(workspace.root), "--run", request.name]  # fmt: skip
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(Path(__file__).parents[3]),
                                                     env.get("PYTHONPATH", "")] if p)  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env, start_new_session=True, cwd=str(workspace.root))  # fmt: skip
    log.close()
    files.write_pid(proc.pid)
    return {"run": request.name, "pid": proc.pid, "log": workspace.relative(files.log_path)}


def _request_of(workspace: Any, run: str, target: str | None, source: str | None) -> SyncRequest:
    spec = RunFiles(workspace, run).spec()
    if spec is None and target is None:
        raise NotFoundError(
            f"no local record of sync run {run} in this workspace",
            hint="Name the target (and source) the run syncs into: sync action=status "
            "run=... target=...",
        )
    if spec is None:
        return SyncRequest(source or "", target or "", ("?",), run=run)
    return spec.with_(target=target or spec.target, source=source or spec.source)


def sync_status(
    workspace: Any, run: str | None = None, *, target: str | None = None,
    source: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The state of one run (or every run this workspace knows): status, position, applied
    count, lag and rate, whether its process is alive, and capture objects on the source."""
    if run:
        return {"runs": [_status_of(workspace, check_run_name(run), target, source)]}
    out = []
    for name in local_runs(workspace):
        try:
            out.append(_status_of(workspace, name, target, source))
        except DataMigrationError as exc:  # one unreachable run does not hide the others
            out.append({"run": name, "error": exc.message, "hint": exc.hint})
    return {"runs": out}


def _status_of(workspace: Any, name: str, target: str | None, source: str | None) -> dict[str, Any]:
    from datamigration.db import connect
    from datamigration.db.syncstate import SYNC_STATE_TABLE

    request = _request_of(workspace, name, target, source)
    files = RunFiles(workspace, name)
    with connect(request.target, workspace) as dst:
        store = dst.sync_state_table(SYNC_STATE_TABLE)
        store.ensure()
        state = store.get(name)
    alive = files.alive()
    item = {"run": name, "alive": alive, "pid": files.pid() if alive else None,
            "state": state, "leftovers": []}  # fmt: skip
    if state is None:
        item["note"] = "no state row on the target (never started, or removed)"
    if request.source and not request.events_file:
        with connect(request.source, workspace) as src:
            item["leftovers"] = [x for x in src.capture_leftovers() if x.get("run") == name]
    return item


def stop_sync(
    workspace: Any, run: str, *, teardown: bool = True, target: str | None = None,
    source: str | None = None, wait_s: float = STOP_WAIT_S,
) -> dict[str, Any]:  # fmt: skip
    """Tell the run to stop (its state row says `stopping`; the loop ends after its batch),
    wait for the process, then remove the capture's objects from the source (`teardown`).
    With no live process it still removes what a crashed run left behind."""
    from datamigration.db import connect
    from datamigration.db.syncstate import SYNC_STATE_TABLE

    name = check_run_name(run)
    request = _request_of(workspace, name, target, source)
    files = RunFiles(workspace, name)
    with connect(request.target, workspace) as dst:
        store = dst.sync_state_table(SYNC_STATE_TABLE)
        store.ensure()
        known = store.get(name) is not None
        if known:
            store.update(name, status="stopping")
        waited = _wait_exit(files, wait_s)
        if files.alive():  # the loop did not come back in time: ask the process itself
            os.kill(files.pid() or 0, signal.SIGTERM)
            waited += _wait_exit(files, wait_s)
        if known:
            store.update(name, status="stopped")
    removed: list[str] = []
    if teardown and request.source and not request.events_file:
        with connect(request.source, workspace) as src:
            removed = src.drop_capture_leftovers(name)
    return {"run": name, "stopped": not files.alive(), "known": known,
            "waited_s": round(waited, 2), "removed": removed}  # fmt: skip


def _wait_exit(files: RunFiles, wait_s: float) -> float:
    started = time.monotonic()
    while files.alive() and time.monotonic() - started < wait_s:
        time.sleep(0.1)
    return time.monotonic() - started
