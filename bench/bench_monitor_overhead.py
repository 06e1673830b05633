"""Monitoring overhead: the application's p99 with and without the monitor sampling once a second.

The load generator (bench/loadgen.py) sends reads and writes at a steady rate on a fixed
schedule to a seeded table. A monitor process (the `Sampler` of safety/monitor.py and the
rollback-trigger watch: probes, pg_stat counters, lag, disk, host CPU) is started before the
measurement, so its start-up never lands in a window, and is switched on and off in
alternating windows of the same length: off, on, off, on, ... Alternating cancels the drift of a
shared machine (other work starting or stopping shows up in both kinds of window alike). The
figure is the p99 of the application's operations due in all "on" windows against all "off"
windows, plus the median of the per-pair ratios. Goal (issue 14): under 5% difference.

    .venv/bin/python bench/bench_monitor_overhead.py --quick   # 4 pairs of 5 s windows
    .venv/bin/python bench/bench_monitor_overhead.py           # 8 pairs of 10 s windows

Needs PostgreSQL on 127.0.0.1:5432 (DATAMIGRATION_TEST_PG_URL overrides the admin URL); the
database is a throwaway one, dropped afterwards.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _runner import Figure, bench_args, report
from bench_live_load import create_database, drop_database, seed
from loadgen import LoadGenerator, percentile

#: the monitor in a process of its own, as `datamigration monitor` runs: a sample a second while
#: it is "on" (a line on stdin switches it), nothing while "off"
MONITOR_WORKER = """
import select, sys, time
from datamigration.db import connect
from datamigration.safety.metrics import Sampler
with connect(sys.argv[1]) as backend:
    sampler = Sampler(backend)
    sampler.baseline()
    print("ready", flush=True)
    on, samples = False, 0
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], 1.0 if on else None)
        if ready:
            line = sys.stdin.readline().strip()
            if line in ("", "quit"):
                break
            on = line == "on"
            continue
        sampler.sample()
        samples += 1
    print(samples, flush=True)
"""


def run(args: Any) -> int:
    if args.quick:
        args.rows, args.pairs, args.window = min(args.rows, 100_000), 4, 5.0
    db, url = create_database()
    try:
        seed(url, args.rows)
        monitor = subprocess.Popen([sys.executable, "-c", MONITOR_WORKER, url],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert monitor.stdin is not None and monitor.stdout is not None
        assert monitor.stdout.readline().strip() == "ready"
        gen = LoadGenerator(url, key_max=args.rows, rate=args.rate, threads=args.threads,
                            monitor_interval=1.0)  # fmt: skip
        print(f"monitor overhead: {args.pairs} pairs of {args.window:g} s windows, "
              f"{args.rate:g} ops/s on {args.threads} threads; load average {os.getloadavg()}",
              flush=True)  # fmt: skip
        gen.start()
        time.sleep(2.0)  # connections made, caches warm
        windows: list[tuple[str, float, float]] = []
        for _ in range(args.pairs):
            for state in ("off", "on"):
                monitor.stdin.write(state + "\n")
                monitor.stdin.flush()
                start = gen.now()
                time.sleep(args.window)
                windows.append((state, start, gen.now()))
        result = gen.stop()
        monitor.stdin.write("quit\n")
        monitor.stdin.flush()
        samples = int(monitor.stdout.readline() or 0)
        monitor.wait(timeout=30)
    finally:
        drop_database(db)

    def p99_of(kind: str | None, start: float = 0.0, end: float = 0.0) -> float:
        ops = [o for o in result.ops
               if any(s == kind and a <= o.due < b for s, a, b in windows)
               or (kind is None and start <= o.due < end)]  # fmt: skip
        return percentile(sorted(o.latency_ms for o in ops), 99)

    off, on = p99_of("off"), p99_of("on")
    pairs = [p99_of(None, windows[i + 1][1], windows[i + 1][2])
             / p99_of(None, windows[i][1], windows[i][2]) for i in range(0, len(windows), 2)]  # fmt: skip
    failed = sum(not o.ok for o in result.ops)
    figures = [
        Figure("app p99, monitor sampling 1/s vs off", on, off, "ms",
               note=f"{samples} samples taken; pooled over {args.pairs} pairs of windows"),
        Figure("median per-pair p99 ratio (on / off)", statistics.median(pairs), 1.0, "x"),
    ]  # fmt: skip
    code = report("monitor_overhead", figures, args, extra={"pairs": pairs, "samples": samples})
    diff = (on - off) / off * 100 if off else 0.0
    print(f"p99 off {off:.2f} ms, on {on:.2f} ms: {diff:+.1f}% (goal under 5%); per-pair ratios "
          f"{[round(r, 3) for r in pairs]}; failed app queries {failed}; "
          f"load average {os.getloadavg()}")  # fmt: skip
    return code


def main() -> int:
    def extra(p: Any) -> None:
        p.add_argument("--rows", type=int, default=200_000)
        p.add_argument("--rate", type=float, default=200.0, help="operations per second")
        p.add_argument("--threads", type=int, default=8)
        p.add_argument("--pairs", type=int, default=8, help="off/on window pairs")
        p.add_argument("--window", type=float, default=10.0, help="seconds per window")

    return run(bench_args("application p99 with and without the monitor", extra=extra))


if __name__ == "__main__":
    sys.exit(main())
