"""Terminal twin of the `sync` tool: `datamigration sync start|status|stop`.

`sync start SRC DST --tables users,orders [--mapping F] [--run NAME] [--events FILE]
[--detach] --yes` prepares the capture on the source, copies the snapshot and applies changes
until stopped (Ctrl-C, or `sync stop RUN` from another terminal), showing the lag and the
apply rate; `--detach` leaves it to a background process with its pid and log under
`.datamigration/sync/<run>/`. `--events FILE` applies Debezium JSON events from a file
instead (no capture, no snapshot). `sync status [RUN]` and `sync stop RUN` read the run's
state on the target.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from datamigration.cli._common import add_json_flag, csv_tuple, print_answer, workspace_of


def _lag_text(data: dict[str, Any]) -> str:
    lag = data.get("lag") or {}
    parts = []
    if lag.get("seconds") is not None:
        parts.append(f"{lag['seconds']:.1f} s")
    if lag.get("events") is not None:
        parts.append(f"{lag['events']} changes")
    if lag.get("bytes") is not None:
        parts.append(f"{lag['bytes']} bytes")
    return "lag " + (", ".join(parts) or "unknown")


class _View:
    """Progress: a rich live line on a terminal (applied, rate, lag), plain lines otherwise."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.live: Any = None
        if not quiet and sys.stderr.isatty():
            from rich.console import Console
            from rich.live import Live

            self.live = Live(console=Console(stderr=True), refresh_per_second=4, transient=False)
        self.last = 0.0

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        import time

        if self.quiet:
            return
        if event == "batch":
            text = (
                f"sync {data['run']}: {data['applied']} changes applied, "
                f"{data['rate']} changes/s, {_lag_text(data)}"
            )
            if self.live is not None:
                if not self.live.is_started:
                    self.live.start()
                self.live.update(text)
                return
            if time.monotonic() - self.last < 1.0:
                return
            self.last = time.monotonic()
        elif event.startswith("snapshot_") and event != "snapshot_finish":
            return
        else:
            text = f"{event.replace('_', ' ')}: {data.get('run') or data.get('table') or ''}"
        print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.live is not None and self.live.is_started:
            self.live.stop()


def cmd_sync_start(args: argparse.Namespace) -> int:
    from datamigration.confirmation import require_yes
    from datamigration.move.request import load_mapping
    from datamigration.move.sync.control import spawn
    from datamigration.move.sync.request import SyncRequest, sync_action
    from datamigration.move.sync.runner import start_sync

    ws = workspace_of(args)
    events = str(ws.resolve(args.events)) if args.events else None
    request = SyncRequest(
        args.source, args.target, csv_tuple(args.tables),
        mapping=load_mapping(ws, args.mapping) if args.mapping else None,
        run=args.run, method=args.method, batch_size=args.batch_size, workspace=str(ws.root),
        events_file=events, truncate=args.truncate, accept_conversions=args.accept_conversions,
    )  # fmt: skip
    require_yes(sync_action(request, ws), args.yes)
    if args.detach:
        started = spawn(request, ws)
        print_answer(args, started, lambda r: f"sync {r['run']} runs as process {r['pid']} "
                                              f"(log: {r['log']})")  # fmt: skip
        return 0
    view = _View(args.quiet or args.json)
    try:
        final = start_sync(request, progress=view)
    except KeyboardInterrupt:
        print("stopped (Ctrl-C); resume with the same command", file=sys.stderr)
        return 130
    finally:
        view.close()
    print_answer(args, final, lambda r: f"sync {r['run']} stopped: {r['applied']} changes applied")
    return 0


def _status_text(answer: dict[str, Any]) -> str:
    lines = []
    for item in answer["runs"]:
        if item.get("error"):
            lines.append(f"{item['run']}: {item['error']} ({item.get('hint', '')})")
            continue
        st = item.get("state") or {}
        figures = st.get("figures") or {}
        alive = f"process {item['pid']}" if item["alive"] else "no process"
        lines.append(
            f"{item['run']}: {st.get('status', 'unknown')} ({alive}), "
            f"{st.get('applied', 0)} changes applied, {figures.get('rate', 0)} changes/s, "
            f"{_lag_text(figures)}"
        )
        lines += [f"  on the source: {x['kind']} {x['name']}" for x in item["leftovers"]]
    return "\n".join(lines) or "no sync runs in this workspace"


def cmd_sync_status(args: argparse.Namespace) -> int:
    from datamigration.move.sync.control import sync_status

    answer = sync_status(workspace_of(args), args.run, target=args.target, source=args.source)
    print_answer(args, answer, _status_text)
    return 0


def cmd_sync_stop(args: argparse.Namespace) -> int:
    from datamigration.confirmation import Action, require_yes
    from datamigration.move.sync.control import stop_sync

    ws = workspace_of(args)
    what = "stop" + (" and remove its capture objects from the source" if args.teardown else "")
    require_yes(Action("sync_stop", f"{what}: sync run {args.run}", {"run": args.run}), args.yes)
    answer = stop_sync(ws, args.run, teardown=args.teardown, target=args.target,
                       source=args.source)  # fmt: skip
    print_answer(args, answer, lambda r: f"sync {r['run']} stopped; removed from the source: "
                                          f"{', '.join(r['removed']) or 'nothing'}")  # fmt: skip
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from datamigration.move.sync.request import DEFAULT_SYNC_BATCH, METHODS

    p = subparsers.add_parser("sync", help="change data capture: keep a target in sync")
    sub = p.add_subparsers(dest="sync_command", required=True)
    s = sub.add_parser("start", help="capture, snapshot copy, then apply changes until stopped")
    s.add_argument("source", help="source database URL or connection name")
    s.add_argument("target", help="target database URL or connection name")
    s.add_argument("--tables", required=True, help="comma-separated source tables")
    s.add_argument("--mapping", help="mapping file (JSON/YAML) for document targets")
    s.add_argument("--run", help="run name: a-z, 0-9, _ (default: from the tables)")
    s.add_argument("--method", choices=METHODS, default="auto", help="capture method")
    s.add_argument("--events", metavar="FILE", help="apply Debezium JSON events from FILE")
    s.add_argument("--batch-size", type=int, default=DEFAULT_SYNC_BATCH, help="changes a batch")
    s.add_argument("--truncate", action="store_true", help="empty target tables before the copy")
    s.add_argument("--accept-conversions", action="store_true", help="accept lossy type mapping")
    s.add_argument("--detach", action="store_true", help="run in the background")
    s.add_argument("--yes", action="store_true", help="confirm")
    s.add_argument("--quiet", action="store_true", help="no progress output")
    add_json_flag(s)
    s.set_defaults(func=cmd_sync_start)
    for name, fn, text in (("status", cmd_sync_status, "state, lag and rate of sync runs"),
                           ("stop", cmd_sync_stop, "stop a sync run and remove its capture")):  # fmt: skip
        c = sub.add_parser(name, help=text)
        c.add_argument("run", nargs="?" if name == "status" else None, help="run name")
        c.add_argument("--target", help="the run's target (when not recorded here)")
        c.add_argument("--source", help="the run's source (when not recorded here)")
        if name == "stop":
            c.add_argument("--keep-capture", dest="teardown", action="store_false",
                           help="leave the capture objects on the source")  # fmt: skip
            c.add_argument("--yes", action="store_true", help="confirm")
        add_json_flag(c)
        c.set_defaults(func=fn)
