"""Where partitions run: a local pool (threads or processes, the default) or a Dask cluster.

`open_pool(request, workers)` gives a `concurrent.futures.Executor`; the runner submits
`copy_partition(request, partition)` to it and waits on the futures the same way whichever
pool it is. `request.cluster` chooses:

* None: a thread pool (or a process pool with `pool="process"`) on this machine;
* ``local`` or ``local:N``: a Dask `LocalCluster` started for this run, N worker processes
  (default: the run's worker budget), stopped at the end;
* ``tcp://host:8786`` (or ``tls://``): an existing Dask scheduler; its workers may be other
  machines.

A Dask worker runs `remote_partition`: an importable function of plain data. It gets a copy of
the request whose connections are shippable (`ship`): a connection name travels with its
`[connections]` entry as written (``${VAR}`` unexpanded: the worker's environment supplies the
password), a SQLite path is made absolute, a URL stays a URL. A URL or entry holding a literal
password is refused for a remote cluster (it would sit in clear text in the task graph); for a
LocalCluster we start, it becomes a ``${VAR}`` reference and the password goes to the worker
processes through their environment only. The worker uses a scratch workspace and returns the
partition's rejected rows with its result; they are written to this workspace's rejects
directory. Before copying, the worker reads the partition's attempts back from the state
table on the target, so a partition the scheduler reschedules after a lost worker runs as a
replacement (its rows are replaced, never duplicated).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from datamigration.errors import ConflictError, UserInputError
from datamigration.move.partitions import Partition
from datamigration.move.request import CopyRequest

_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
SECRET_VARS = {
    "source": "DATAMIGRATION_COPY_SOURCE_SECRET",
    "target": "DATAMIGRATION_COPY_TARGET_SECRET",
}
INSTALL_HINT = (
    "Install the Dask extra here and on every worker: pip install 'agileflow-datamigration[dask]'."
)


class ClusterError(ConflictError):
    """The Dask cluster cannot be used (unknown address form, unreachable, not installed)."""

    default_hint = (
        "Start a scheduler (dask scheduler) and workers (dask worker tcp://HOST:8786), then "
        "pass --cluster tcp://HOST:8786; or --cluster local:2 to run on this machine."
    )


class SecretInGraphError(UserInputError):
    default_hint = (
        "Name the connection in datamigration.toml with its password from the environment, "
        'e.g. app = "postgresql://app:${PGPASSWORD}@db/app" (or write ${PGPASSWORD} in the '
        "URL), and set that variable on every Dask worker."
    )


def open_pool(request: CopyRequest, workers: int) -> Executor:
    """The pool the runner hands partitions to (see the module docstring)."""
    if request.cluster:
        return DaskPool(request, workers)
    if request.pool == "process":
        import multiprocessing

        return ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=exit_with_parent,
            initargs=(os.getpid(),),
        )
    return ThreadPoolExecutor(workers, thread_name_prefix="copy")


def exit_with_parent(parent: int) -> None:
    """Process-pool initializer: a worker dies with the copy that started it. Otherwise, after
    a kill -9 of the copy, a worker would finish and commit its partition beside the resumed
    run's retry of it. Linux: the kernel kills it (prctl PR_SET_PDEATHSIG); elsewhere (and as
    a backstop) a thread notices the new parent within 0.2 s; either way its connections close
    and its open transaction is rolled back."""
    import signal
    import time

    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the thread below does it

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def parse_cluster(spec: str, workers: int) -> tuple[str | None, int]:
    """(scheduler address or None for a LocalCluster, worker processes to start)."""
    text = spec.strip()
    if text == "local" or text.startswith("local:"):
        count = text.partition(":")[2] or str(workers)
        if not count.isdigit() or int(count) < 1:
            raise UserInputError(
                f"--cluster {spec!r}: local:N needs a positive worker count",
                hint="e.g. --cluster local:2",
            )
        return None, int(count)
    if "://" not in text:
        raise ClusterError(f"--cluster {spec!r} is neither local[:N] nor a scheduler address")
    return text, 0


def preflight(request: CopyRequest) -> None:
    """Refuse a bad --cluster, a missing Dask, an unreachable scheduler or a password that
    cannot travel, before anything is written."""
    import importlib.util
    import socket

    address, _ = parse_cluster(request.cluster or "", request.workers)
    if importlib.util.find_spec("distributed") is None:
        raise ClusterError(
            "--cluster needs Dask distributed, which is not installed", hint=INSTALL_HINT
        )
    ship(request, address)
    if address is not None:
        parts = urlsplit(address)
        try:
            socket.create_connection((parts.hostname or "", parts.port or 8786), timeout=10).close()
        except OSError as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


# -- what travels to a worker ---------------------------------------------------------------


def _literal_secret(text: str) -> str | None:
    """The password (or secret query value) written literally in a URL, raw as written."""
    from datamigration.redact import is_secret_param

    parts = urlsplit(text)
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        password = userinfo.partition(":")[2]
        if not _REFERENCE.fullmatch(password):
            return password
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if is_secret_param(key) and not _REFERENCE.fullmatch(value):
            return value
    return None


def _as_reference(text: str, var: str, where: str, remote: str | None, env: dict) -> str:
    """`text` with a literal password replaced by ``${var}`` (its value into `env`), or the
    refusal for a remote cluster."""
    from datamigration.db.urls import expand_env, file_reference

    secret = _literal_secret(text)
    if secret is None:
        return text
    if remote is not None:
        raise SecretInGraphError(
            f"the {where} carries its password in the URL; a partition sent to the Dask "
            f"cluster at {remote} would carry it in clear text, so it is not sent"
        )
    shipped, _ = file_reference(text, None, password_var=var)
    if expand_env(shipped, {var: secret}) != text:
        raise SecretInGraphError(
            f"the {where} holds more than one secret; it cannot be passed to Dask workers"
        )
    env[var] = secret
    return shipped


def ship(
    request: CopyRequest, remote: str | None
) -> tuple[CopyRequest, dict[str, Any], dict[str, str]]:
    """(the request a worker receives, the `[connections]` entries it needs, the environment
    a LocalCluster's workers get)."""
    from datamigration.db.dialect import dialect_of
    from datamigration.db.urls import _entry_url, configured_connections, resolve
    from datamigration.workspace.root import Workspace

    ws = Workspace.open(request.workspace)
    entries: dict[str, Any] = {}
    env: dict[str, str] = {}
    sides: dict[str, str] = {}
    for side in ("source", "target"):
        text = getattr(request, side).strip()
        url = resolve(text, ws)
        var = SECRET_VARS[side]
        if dialect_of(url.dialect).embedded:
            query = urlsplit(url.url).query
            sides[side] = f"{url.scheme}:///{url.database}" + (f"?{query}" if query else "")
        elif "://" in text:
            sides[side] = _as_reference(text, var, f"{side} URL", remote, env)
        else:
            raw, options = _entry_url(text, configured_connections(ws)[text])
            where = f"connection {text!r} in datamigration.toml"
            entry = _as_reference(raw, var, where, remote, env)
            entries[text] = {"url": entry, **options}
            sides[side] = text
    return request.with_(workspace=".", cluster=None, pool="thread", **sides), entries, env


def remote_partition(
    request: CopyRequest, part: Partition, connections: dict[str, Any]
) -> tuple[Any, str]:
    """What a Dask worker runs: one partition in a scratch workspace; (result, rejects text)."""
    from datamigration.db.base import connect
    from datamigration.move.rejects import reject_path
    from datamigration.move.worker import copy_partition
    from datamigration.workspace.root import Workspace

    root = tempfile.mkdtemp(prefix="datamigration-copy-")
    try:
        ws = Workspace(root=Path(root), config={"connections": connections})
        with connect(request.target, ws) as dst:
            stored = [
                r
                for r in dst.copy_state_table(request.state_table).rows()
                if r["run_id"] == part.run_id and r["tbl"] == part.table and r["part"] == part.index
            ]
        if stored and (stored[0].get("attempts") or 0) > part.attempts:
            part = dataclasses.replace(part, attempts=stored[0]["attempts"])
        result = copy_partition(request, part, workspace=ws)
        path = reject_path(ws.state_dir, part.run_id, part.table, part.index)
        return result, (path.read_text(encoding="utf-8") if path.exists() else "")
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- the Dask pool -------------------------------------------------------------------------


class _Relayed(Future):
    """A local future mirroring one Dask future (cancel is passed on)."""

    def __init__(self) -> None:
        super().__init__()
        self.remote: Any = None

    def cancel(self) -> bool:
        if self.remote is not None:
            self.remote.cancel()
        return super().cancel()


class DaskPool(Executor):
    """Partitions on a Dask cluster, at most `workers` at a time (the connection cap)."""

    def __init__(self, request: CopyRequest, workers: int) -> None:
        try:
            import distributed
        except ImportError as exc:
            raise ClusterError(
                f"--cluster needs Dask distributed, which is not installed ({exc})",
                hint=INSTALL_HINT,
            ) from None
        address, count = parse_cluster(request.cluster or "", workers)
        self.shipped, self.connections, env = ship(request, address)
        self.workspace = request.workspace
        self.limit = max(1, workers)
        self.queue: deque[tuple[_Relayed, Partition]] = deque()
        self.running = 0
        self.lock = threading.Lock()
        self.cluster = None
        try:
            if address is None:
                self.cluster = distributed.LocalCluster(
                    n_workers=count,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    env=env,
                )
                address = self.cluster.scheduler_address
            self.client = distributed.Client(address, timeout="15s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            self._close_cluster()
            raise ClusterError(
                f"cannot reach the Dask scheduler at {address}: {type(exc).__name__}: {exc}"
            ) from None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """`fn(request, partition)` is run as `remote_partition` on a worker."""
        out = _Relayed()
        with self.lock:
            self.queue.append((out, args[1]))
        self._launch()
        return out

    def _launch(self) -> None:
        while True:
            with self.lock:
                if self.running >= self.limit or not self.queue:
                    return
                out, part = self.queue.popleft()
                if out.cancelled():
                    continue
                self.running += 1
            out.remote = self.client.submit(
                remote_partition,
                self.shipped,
                part,
                self.connections,
                key=f"{part.run_id}-{part.table}-{part.index}-{part.attempts}",
                pure=False,
            )
            out.remote.add_done_callback(lambda remote, out=out, part=part: self._done(out, part))

    def _done(self, out: _Relayed, part: Partition) -> None:
        with self.lock:
            self.running -= 1
        try:
            if out.remote.status == "finished":
                result, rejected = out.remote.result()
                _keep_rejects(self.workspace, part, rejected)
                out.set_result(result)
            elif out.remote.status == "error":
                out.set_exception(out.remote.exception())
            else:
                out.cancel()
        except Exception as exc:  # noqa: BLE001 - becomes the partition's failure
            if not out.done():
                out.set_exception(exc)
        self._launch()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self.lock:
            self.queue.clear()
        self.client.close()
        self._close_cluster()

    def _close_cluster(self) -> None:
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


def _keep_rejects(workspace: str, part: Partition, text: str) -> None:
    """A partition's rejects, returned by its worker, into this workspace's rejects dir."""
    from datamigration.move.rejects import reject_path
    from datamigration.workspace.root import Workspace

    path = reject_path(Workspace.open(workspace).state_dir, part.run_id, part.table, part.index)
    if path.exists():
        path.unlink()
    if text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
