"""Terminal twin of the cutover tool: `datamigration cutover RUN [--rollback]`.

Parses the bounds (`--lag-max 5s`, `--pause-max 1s`), confirms with --yes, calls
`move.sync.cutover.cutover` (or `rollback_cutover`) with progress lines on stderr (lag, drain,
pause) and prints the report with the measured write pause. Exit codes: 0 cut over (or rolled
back), 4 aborted with nothing flipped, others as every command.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from datamigration.cli._common import add_json_flag, csv_tuple, print_answer, workspace_of


def _line(event: str, data: dict[str, Any]) -> None:
    if event == "phase":
        text = f"{data['phase']} {data['state']}"
    elif event == "lag":
        text = f"lag {data.get('lag_seconds')} s, apply rate {data.get('apply_rate')}"
    else:
        text = f"{event.replace('_', ' ')}: {data}"
    print(text, file=sys.stderr, flush=True)


def cmd_cutover(args: argparse.Namespace) -> int:
    from datamigration.confirmation import require_yes
    from datamigration.move.sync.cutover import (
        CutoverRequest,
        cutover,
        cutover_action,
        rollback_cutover,
    )
    from datamigration.safety.monitor import parse_duration

    ws = workspace_of(args)
    req = CutoverRequest(
        run=args.run,
        workspace=str(ws.root),
        lag_max_s=parse_duration(args.lag_max, "--lag-max"),
        pause_max_ms=round(parse_duration(args.pause_max, "--pause-max") * 1000),
        write_pause=args.write_pause,
        flag=args.flag,
        pause_flag=args.pause_flag,
        flags_file=args.flags_file,
        source=args.source,
        target=args.target,
        tables=csv_tuple(args.tables),
        wait_s=parse_duration(args.wait, "--wait"),
        story=args.story,
    ).checked()
    require_yes(cutover_action(req, rollback=args.rollback), args.yes)
    progress = None if args.quiet or args.json else _line
    do = rollback_cutover if args.rollback else cutover
    print_answer(args, do(req, progress=progress), render_text)
    return 0


def render_text(r: dict[str, Any]) -> str:
    pause = r.get("write_pause_ms")
    pause_text = f"{pause:.0f} ms" if pause is not None else "none (no pause)"
    if r.get("rolled_back"):
        lines = [f"rolled back {r['run']}: flag {r['flag']} off, write pause {pause_text}"]
        if r.get("replayed") is not None:
            lines.append(f"  {r['replayed']} change(s) replayed to the source")
        if r.get("writes_after_cutover"):
            lines.append(f"  {r['writes_after_cutover']}")
        return "\n".join(lines)
    diff = "empty" if r["diff"].get("identical") else "NOT EMPTY"
    lines = [f"cut over {r['run']}: flag {r['flag']} on, write pause {pause_text}, diff {diff}"]
    back = r.get("way_back") or {}
    if back.get("run"):
        lines.append(f"  way back: sync {back['run']} carries the target's writes to the source")
    elif back.get("writes_after_cutover"):
        lines.append(f"  {back['writes_after_cutover']}")
    lines.append("  the source is kept; roll back with: datamigration cutover "
                 f"{r['run']} --rollback --yes")  # fmt: skip
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "cutover", help="cut a sync run over to its target (brief write pause), or roll back"
    )
    p.add_argument("run", help="the sync run's name (see sync status)")
    p.add_argument("--rollback", action="store_true", help="undo the cutover of RUN")
    p.add_argument("--lag-max", default="5s", help="wait until the lag is under this (5s)")
    p.add_argument("--pause-max", default="1s", help="longest write pause (1s)")
    p.add_argument("--write-pause", choices=("lock", "flag"), default="lock",
                   help="lock the source tables, or set the application's pause flag")  # fmt: skip
    p.add_argument("--flag", help="read/write flag to flip (default <table>_reads_from_target)")
    p.add_argument("--pause-flag", help="the application's pause flag (--write-pause flag)")
    p.add_argument("--flags-file", help="flagd file (default: the workspace's)")
    p.add_argument("--source", help="source URL or name (default: the run's)")
    p.add_argument("--target", help="target URL or name (default: the run's)")
    p.add_argument("--tables", help="comma-separated tables (default: the run's)")
    p.add_argument("--wait", default="10m", help="longest wait for the lag bound (10m)")
    p.add_argument("--story", help="record the phases on this story (status.json)")
    p.add_argument("--yes", action="store_true", help="confirm")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    add_json_flag(p)
    p.set_defaults(func=cmd_cutover)
