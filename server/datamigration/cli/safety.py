"""Terminal twins of the safety tools: monitor, health, and the manual stop of a running step.

`datamigration monitor DB [--for 60s] [--interval 1s] [--query SQL] [--prometheus URL]` takes a
baseline and samples (stored under .datamigration/runs/<run>/, shown by run-status);
`datamigration health DB [--heavy]` says whether it is safe to start now and why not;
`datamigration stop PLAN_ID` asks the step running now to stop and roll back at its next batch.
"""

from __future__ import annotations

import argparse
from typing import Any

from datamigration.cli._common import add_json_flag, print_json, print_text, workspace_of


def _line(s: dict[str, Any]) -> str:
    lat = s.get("latency_ms") or {}
    parts = [f"p50 {lat.get('p50')} ms", f"p99 {lat.get('p99')} ms"]
    for key, label in (("error_rate", "errors"), ("throughput_tps", "tps"),
                       ("connections_used", "conn used"), ("lock_waits", "lock waits"),
                       ("replication_lag_s", "lag s")):  # fmt: skip
        if s.get(key) is not None:
            parts.append(f"{label} {s[key]}")
    if s.get("slot_lag"):
        parts.append(f"slot {s['slot_lag']['slot']} {s['slot_lag']['seconds']} s")
    if s.get("disk_free_bytes") is not None:
        parts.append(f"disk free {s['disk_free_bytes'] / 2**30:.1f} GiB")
    if (s.get("app") or {}).get("latency_p99_ms") is not None:
        parts.append(f"app p99 {s['app']['latency_p99_ms']} ms")
    return ", ".join(parts)


def cmd_monitor(args: argparse.Namespace) -> int:
    from datamigration.safety.monitor import monitor, parse_duration

    def shown(sample: dict[str, Any]) -> None:
        if not args.json:
            print_text("  " + _line(sample))

    out = monitor(workspace_of(args), args.db, seconds=parse_duration(args.for_, "--for"),
                  interval=parse_duration(args.interval, "--interval"), queries=args.query or (),
                  prometheus=args.prometheus, run=args.run, on_sample=shown)  # fmt: skip
    if args.json:
        print_json(out)
        return 0
    print_text(f"baseline of {out['database']}: {_line(out['baseline'])}")
    sm = out["summary"]
    print_text(f"{out['samples']} samples in {out['samples_file']} (run {out['run']}): latency "
               f"p50/p95/p99 {sm['latency_ms']['p50']}/{sm['latency_ms']['p95']}/"
               f"{sm['latency_ms']['p99']} ms over {sm['probes']} probes, worst error rate "
               f"{sm['error_rate_max']}")  # fmt: skip
    if out["unavailable"]:
        print_text("not available here: " + ", ".join(out["unavailable"]))
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from datamigration.safety.watch import request_stop

    ws = workspace_of(args)
    path = request_stop(ws.state_dir, args.plan_id, args.reason or "")
    if args.json:
        print_json({"plan_id": args.plan_id, "stop_file": ws.relative(path)})
        return 0
    print_text(f"stop requested for {args.plan_id} ({ws.relative(path)}): the running step stops "
               "at its next batch and is rolled back as the plan says")  # fmt: skip
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    from datamigration.safety.health import health_check

    out = health_check(workspace_of(args), args.db, heavy=not args.light)
    if args.json:
        print_json(out)
        return 0 if out["safe"] else 1
    print_text(f"{out['database']}: {'safe to start' if out['safe'] else 'NOT safe to start'}")
    for c in out["checks"]:
        mark = {True: "ok", False: "NO", None: "--"}[c["ok"]]
        print_text(f"  [{mark}] {c['check']}: {c['detail']}")
    return 0 if out["safe"] else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    m = subparsers.add_parser(
        "monitor",
        help="baseline + samples of a database: latency, errors, throughput, lag, disk",
        description="Take a baseline, then one sample per --interval for --for; samples go to "
        ".datamigration/runs/<run>/samples.jsonl and show in run-status.",
    )
    m.add_argument("db", help="database URL or connection name")
    m.add_argument("--for", dest="for_", default="60s", help="how long (60s, 2m; default 60s)")
    m.add_argument("--interval", default="1s", help="time between samples (default 1s)")
    m.add_argument("--query", action="append", help="a read query to time (read-only; repeat)")
    m.add_argument("--prometheus", help="the application's Prometheus metrics URL")
    m.add_argument("--run", help="name of the run the samples are stored under")
    add_json_flag(m)
    m.set_defaults(func=cmd_monitor)

    h = subparsers.add_parser(
        "health",
        help="is it safe to start now? load, lag, locks, slots, disk, maintenance windows",
        description="Exit 0 when safe, 1 with the reasons when not.",
    )
    h.add_argument("db", help="database URL or connection name")
    h.add_argument("--light", action="store_true",
                   help="light work only: a closed maintenance window does not fail the check")  # fmt: skip
    add_json_flag(h)
    h.set_defaults(func=cmd_health)

    s = subparsers.add_parser(
        "stop",
        help="stop the step of a plan that is running now (it rolls back)",
        description="Writes the run's stop file; the running step's watch sees it at the next "
        "batch, stops, rolls the step back as the plan says and blocks the story.",
    )
    s.add_argument("plan_id")
    s.add_argument("--reason", help="why (goes into the bus warning)")
    add_json_flag(s)
    s.set_defaults(func=cmd_stop)
