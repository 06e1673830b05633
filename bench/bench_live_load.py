"""Live-load benchmark: a schema change under steady application traffic, expand-contract vs naive.

For each change — (a) rename users.email to email_address, (b) users.n int -> bigint — on a
1,000,000-row table, the load generator (bench/loadgen.py) sends reads and writes at a steady
rate on a fixed schedule. After a baseline window the change runs, either

* ours: the expand-contract plan from the planner (`plan_migration`), run step by step by the
  executor (`execute.service.prepare(...).run()`): new column, sync triggers, batched backfill,
  constraints NOT VALID + VALIDATE, concurrent indexes, switch, contract; the application is
  redeployed from the old version (writes `email`) to the new one (writes `email_address`) at the
  plan's switch step, with both versions running side by side during the rolling deploy; or
* anchor: the naive single ALTER (RENAME COLUMN, or ALTER COLUMN TYPE), followed by the same
  rolling deploy where the application has to change.

Reported for each: failed application queries, latency p50/p95/p99 during the change vs the
baseline before it (latency is measured from each operation's scheduled time, so stalls count),
and the longest time any application query waited on a lock (sampled from pg_stat_activity).
Goals (issue 6): zero failed queries, p99 <= 2x baseline, no lock wait longer than the lock
timeout of the plan's DDL.

    .venv/bin/python bench/bench_live_load.py            # 1M rows, about 2 minutes
    .venv/bin/python bench/bench_live_load.py --quick    # 20k rows, a smoke run (~30 s)
    .venv/bin/python bench/bench_live_load.py --json     # also bench/results/live_load.json
    .venv/bin/python bench/bench_live_load.py --no-prepare   # the app never prepares statements

The application uses psycopg's defaults, under which a statement run five times on a connection
becomes a server-side prepared statement (JDBC and pgx behave alike). A change that alters the
*result type* of a prepared query — int -> bigint, by the naive ALTER or by the expand-contract
swap — then fails that statement on every execution with "cached plan must not change result
type" until the connection re-prepares. `--no-prepare` shows the same changes for an
application that does not prepare.

Needs PostgreSQL on 127.0.0.1:5432 (DATAMIGRATION_TEST_PG_URL overrides the admin URL); each
scenario gets its own throwaway database, dropped afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _cluster import own_cluster
from _runner import Figure, bench_args, report
from loadgen import LoadGenerator, LoadResult, Workload, window

ADMIN_URL = os.environ.get("DATAMIGRATION_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")

RENAME_SPEC = {
    "kind": "rename_column",
    "table": "users",
    "column": "email",
    "new_name": "email_address",
}
#: The planner's lock_timeout on DDL; the naive ALTER has none, so it is judged by the same bar.
DEFAULT_LOCK_TIMEOUT_MS = 2000
TYPE_SPEC = {"kind": "change_type", "table": "users", "column": "n", "type": "bigint"}
RENAME_LOAD = Workload(old_column="email", new_column="email_address")
TYPE_LOAD = Workload(old_column="email", new_column="email")  # the app keeps using `n`


# --- databases --------------------------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def create_database() -> tuple[str, str]:
    name = f"dm_bench_live_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return name, with_database(ADMIN_URL, name)


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(url: str, rows: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(
            "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL, "
            "n int NOT NULL DEFAULT 0, created_at timestamptz NOT NULL DEFAULT now())"
        )
        c.execute(
            "INSERT INTO users (email, n) SELECT 'user' || g || '@example.com', g "
            "FROM generate_series(1, %s) g",
            (rows,),
        )
        c.execute("CREATE UNIQUE INDEX users_email_key ON users (email)")
        c.execute("VACUUM ANALYZE users")
        # every scenario starts its change just after a checkpoint: which one a checkpoint lands
        # in (its full-page images multiply the WAL a backfill writes) is then no lottery
        c.execute("CHECKPOINT")
    return time.perf_counter() - started


# --- the changes --------------------------------------------------------------------------------


class Change:
    """A change under test: `prepare` runs before the load starts, `run` during it."""

    def prepare(self, url: str, workdir: Path) -> None:
        """Work done before the change window (for a plan: planning and review)."""

    def run(self, gen: LoadGenerator, url: str, workdir: Path) -> dict[str, Any]:
        raise NotImplementedError


class Naive(Change):
    """The single ALTER people write, then the rolling deploy of the app when it must change."""

    def __init__(self, statement: str, deploy: bool, deploy_seconds: float) -> None:
        self.statement, self.deploy, self.deploy_seconds = statement, deploy, deploy_seconds

    def run(self, gen: LoadGenerator, url: str, workdir: Path) -> dict[str, Any]:
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True, application_name="dm-bench-naive") as c:
            c.execute(self.statement)
        alter_s = time.perf_counter() - started
        if self.deploy:
            gen.rolling_deploy(self.deploy_seconds)
        return {"statement": self.statement, "alter_seconds": round(alter_s, 3)}


class BusyCore(Change):
    """No database work at all: one process spinning on one core for `seconds`.

    The machine's own floor: on a small machine any sustained work, even work that never touches
    the database, delays the application's queries (the scheduler has one core fewer for the
    application, its backends and the WAL writer). A change cannot be gentler than this, so
    its p99 is read next to this one.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def run(self, gen: LoadGenerator, url: str, workdir: Path) -> dict[str, Any]:
        spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(self.seconds)
        finally:
            spin.kill()
            spin.wait()
        return {"busy_seconds": self.seconds}


#: The least write work there is: one row updated and committed at a time, back to back, on one
#: connection of its own process (so it competes for the CPU and the WAL, not for our GIL).
TRICKLE_WRITER = """
import sys, time, psycopg
url, seconds = sys.argv[1], float(sys.argv[2])
with psycopg.connect(url, autocommit=True, application_name="dm-bench-trickle") as c:
    end, k = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        k += 1
        c.execute("UPDATE users SET n = n WHERE id = %s", (k,))
print(k)
"""


class TrickleWriter(Change):
    """One-row transactions back to back for `seconds`: what any writing at all costs here.

    The floor (`BusyCore`) writes nothing; a backfill cannot avoid writing. A writer that commits
    one row at a time is the smallest unit of write work, so its p99 against the floor's says
    how much of the 1.25x goal writing itself uses up on this machine (commit flushes queue the
    application's commits behind them), whatever a pacer does with batch sizes and pauses.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def run(self, gen: LoadGenerator, url: str, workdir: Path) -> dict[str, Any]:
        out = subprocess.run([sys.executable, "-c", TRICKLE_WRITER, url, str(self.seconds)],
                             capture_output=True, text=True, check=True)  # fmt: skip
        return {"trickle_seconds": self.seconds, "commits": int(out.stdout.strip() or 0)}


#: The executor process: imports once (before the change window, so interpreter start-up never
#: lands in it), then runs the steps it is sent through the same engine call `datamigration
#: execute` makes, one JSON line of outcome per step.
EXECUTOR_WORKER = """
import json, sys
from datamigration.execute import service
from datamigration.execute.runner import RunOptions
from datamigration.workspace.root import Workspace
workdir, plan_id, plan_hash, url, batch, pause, safety = sys.argv[1:8]
ws = Workspace.open(workdir)
options = RunOptions(batch_size=int(batch) or None, batch_pause_ms=float(pause),
                     finish_story=False, safety=json.loads(safety) or None,
                     backup_gate=False, now=True)  # a throwaway database, any hour
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    try:
        out = service.jsonable_result(service.prepare(ws, plan_id, plan_hash, mode="execute",
              db=url, step=line.strip(), options=options).run())
        paces = [o["pace"] for s in out["steps"] for o in s["operations"] if o.get("pace")]
        print(json.dumps({"ok": True, "pace": paces[0] if paces else None}), flush=True)
    except Exception as exc:
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}), flush=True)
"""


class ExpandContract(Change):
    """The planner's plan, its steps run one by one by the executor in its own process.

    A separate process, as an operator runs it, so the executor never competes with the load
    threads for this process's interpreter lock (that would be measured as app latency); started
    before the change window, so Python's start-up does not either. The plan's manual step
    (deploy the new app version) is where the rolling deploy happens.
    """

    def __init__(self, spec: dict[str, Any], deploy_seconds: float, batch_size: int | None,
                 batch_pause_ms: float | None, safety: dict[str, Any] | None = None) -> None:  # fmt: skip
        self.spec, self.deploy_seconds, self.safety = spec, deploy_seconds, safety or {}
        self.batch_size, self.batch_pause_ms = batch_size, batch_pause_ms
        self.plan: Any = None
        self.plan_seconds = 0.0
        self.worker: subprocess.Popen[str] | None = None

    def prepare(self, url: str, workdir: Path) -> None:
        from datamigration.plan.planner import plan_migration
        from datamigration.plan.spec import parse_spec
        from datamigration.workspace.root import Workspace

        started = time.perf_counter()
        self.plan = plan_migration(Workspace.open(str(workdir)), parse_spec(self.spec), url).plan
        self.plan_seconds = time.perf_counter() - started
        argv = [sys.executable, "-c", EXECUTOR_WORKER, str(workdir), self.plan.id,
                self.plan.hash, url, str(self.batch_size or 0), str(self.batch_pause_ms or 0),
                json.dumps(self.safety)]  # fmt: skip
        self.worker = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self._answer()  # ready

    def _answer(self) -> dict[str, Any]:
        assert self.worker is not None and self.worker.stdout is not None
        line = self.worker.stdout.readline()
        if not line:
            raise RuntimeError(f"the executor process exited ({self.worker.wait()})")
        return json.loads(line)

    def run(self, gen: LoadGenerator, url: str, workdir: Path) -> dict[str, Any]:
        plan = self.plan
        steps = []
        assert self.worker is not None and self.worker.stdin is not None
        try:
            for step in plan.steps:
                if any(op.kind == "manual" for op in step.operations):
                    gen.mark(f"deploy {step.id}")
                    gen.rolling_deploy(self.deploy_seconds)  # the manual step: ship the new app
                t_start = gen.mark(f"{step.id} start")
                self.worker.stdin.write(step.id + "\n")
                self.worker.stdin.flush()
                answer = self._answer()
                t_end = gen.mark(f"{step.id} end")
                steps.append({"step": step.id, "title": step.title, "pace": answer.get("pace"),
                              "backfill": any(o.kind == "backfill" for o in step.operations),
                              "seconds": round(t_end - t_start, 3), "window": (t_start, t_end)})  # fmt: skip
                if not answer["ok"]:
                    raise RuntimeError(f"step {step.id} ({step.title}): {answer['error']}")
        finally:
            self.worker.stdin.close()
            self.worker.wait(timeout=30)
        lock_timeouts = {
            op.lock_timeout_ms for s in plan.steps for op in s.operations if op.lock_timeout_ms
        }
        return {
            "plan": plan.id,
            "plan_hash": plan.hash,
            "plan_seconds": round(self.plan_seconds, 3),
            "steps": steps,
            "lock_timeout_ms": max(lock_timeouts) if lock_timeouts else None,
        }


# --- one scenario -------------------------------------------------------------------------------


def scenario(
    name: str,
    change: Change,
    workload: Workload,
    args: Any,
) -> dict[str, Any]:
    db, url = create_database()
    try:
        seed_s = seed(url, args.rows)
        workdir = Path(tempfile.mkdtemp(prefix="dm-bench-ws-"))
        change.prepare(url, workdir)
        gen = LoadGenerator(
            url,
            key_max=args.rows,
            workload=workload,
            rate=args.rate,
            threads=args.threads,
            prepare_threshold=None if args.no_prepare else 5,
        )
        gen.start()
        time.sleep(args.baseline)
        start = gen.mark("change start")
        load_at_start = os.getloadavg()[0]
        try:
            detail = change.run(gen, url, workdir)
            error = None
        except Exception as exc:  # noqa: BLE001 - reported in the table, not hidden
            detail, error = {}, f"{type(exc).__name__}: {exc}"
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        end = gen.mark("change end")
        time.sleep(args.tail)
        result: LoadResult = gen.stop()
        base = window(result, "baseline", min(1.0, start / 2), start)
        during = window(result, "during", start, max(end, start + 0.001))
        after = window(result, "after", end, result.ops[-1].due if result.ops else end)
        for step in (detail or {}).get("steps", []):
            w = window(result, step["step"], *step.pop("window"))
            step.update(p99_ms=round(w.p99_ms, 2), ops=w.ops, failed=w.failed,
                        longest_app_lock_wait_ms=round(w.longest_app_lock_wait_ms, 1))  # fmt: skip
            kinds = ", ".join(f"{k} {v:.1f}" for k, v in w.p99_by_kind_ms)
            print(f"    {step['step']} {step['title']}: {step['seconds']:.1f} s, "
                  f"p99 {w.p99_ms:.2f} ms ({kinds}; service {w.service_p99_ms:.1f}), failed {w.failed}"
                  + (f"; app waited on {dict(w.app_waits)}" if w.app_waits else ""))  # fmt: skip
        print(
            f"    p99 by kind, baseline {dict(base.p99_by_kind_ms)} service {base.service_p99_ms:.2f}; "
            f"during {dict(during.p99_by_kind_ms)} service {during.service_p99_ms:.2f}"
        )
        print(
            f"  {name}: seed {seed_s:.1f} s, change {end - start:.1f} s, "
            f"failed {during.failed + after.failed}, p99 {base.p99_ms:.2f} -> {during.p99_ms:.2f} ms, "
            f"longest app lock wait {during.longest_app_lock_wait_ms:.0f} ms, load average "
            f"{load_at_start:.2f} -> {os.getloadavg()[0]:.2f}"
            + (f", ERROR {error}" if error else ""),
            flush=True,
        )
        return {
            "name": name,
            "rows": args.rows,
            "seed_seconds": round(seed_s, 2),
            "change_seconds": round(end - start, 3),
            "error": error,
            "load_average": [round(load_at_start, 2), round(os.getloadavg()[0], 2)],
            "detail": detail,
            "baseline": base.to_dict(),
            "during": during.to_dict(),
            "after": after.to_dict(),
            "monitor_samples": result.monitor_samples,
            "marks": {k: round(v, 3) for k, v in result.marks.items()},
        }
    finally:
        drop_database(db)


# --- report -------------------------------------------------------------------------------------


def figures_for(label: str, ours: dict[str, Any], anchor: dict[str, Any]) -> list[Figure]:
    def failed(s: dict[str, Any]) -> float:
        return float(s["during"]["failed"] + s["after"]["failed"])

    def ratio(s: dict[str, Any]) -> float:
        b = s["baseline"]["p99_ms"]
        return s["during"]["p99_ms"] / b if b else 0.0

    rows = [
        Figure(f"{label}: failed app queries", failed(ours), failed(anchor), "queries"),
        Figure(
            f"{label}: baseline p99", ours["baseline"]["p99_ms"], anchor["baseline"]["p99_ms"], "ms"
        ),
    ]
    for q in ("p50", "p95", "p99"):
        rows.append(
            Figure(
                f"{label}: {q} during", ours["during"][f"{q}_ms"], anchor["during"][f"{q}_ms"], "ms"
            )
        )
    rows += [
        Figure(f"{label}: p99 during / baseline", ratio(ours), ratio(anchor), "x"),
        Figure(
            f"{label}: longest app lock wait",
            ours["during"]["longest_app_lock_wait_ms"],
            anchor["during"]["longest_app_lock_wait_ms"],
            "ms",
        ),
        Figure(f"{label}: change duration", ours["change_seconds"], anchor["change_seconds"], "s"),
    ]
    return rows


def goals(s: dict[str, Any]) -> list[str]:
    limit = (s["detail"] or {}).get("lock_timeout_ms") or DEFAULT_LOCK_TIMEOUT_MS
    base, during = s["baseline"]["p99_ms"], s["during"]["p99_ms"]
    failed = s["during"]["failed"] + s["after"]["failed"]
    wait = s["during"]["longest_app_lock_wait_ms"]
    checks = [
        (failed == 0, f"zero failed queries ({failed})"),
        (base > 0 and during <= 2 * base, f"p99 <= 2x baseline ({during:.2f} vs {base:.2f} ms)"),
        (wait <= limit, f"no lock wait over the lock timeout ({wait:.0f} <= {limit} ms)"),
    ]
    return [("met    " if ok else "MISSED ") + text for ok, text in checks]


def main() -> int:
    def extra(p: Any) -> None:
        p.add_argument("--rows", type=int, default=1_000_000)
        p.add_argument("--rate", type=float, default=200.0, help="operations per second")
        p.add_argument("--threads", type=int, default=8)
        p.add_argument("--baseline", type=float, default=8.0, help="seconds before the change")
        p.add_argument("--tail", type=float, default=3.0, help="seconds after the change")
        p.add_argument("--deploy-seconds", type=float, default=4.0, help="rolling deploy length")
        p.add_argument("--batch-size", type=int, default=None, help="backfill batch override")
        p.add_argument("--batch-pause-ms", type=float, default=None, help="pause after a batch")
        p.add_argument("--only", choices=["rename", "type"], default=None)
        p.add_argument(
            "--budget",
            action="store_true",
            help="the latency budget (issue 14): the floor, then the int -> bigint change with "
            "the backfill paced by its budget and unpaced, in the same run (--pace KEY=VALUE "
            "sets [safety] pacer settings)",
        )
        p.add_argument("--pace", action="append", default=[], metavar="KEY=VALUE")
        p.add_argument("--variant", action="append", default=[], metavar="KEY=VALUE",
                       help="--budget: also run the backfill paced with these settings in "
                       "every round (on top of --pace), to compare two pacers under one load")  # fmt: skip
        p.add_argument("--rounds", type=int, default=1,
                       help="--budget: rounds of floor, one-row commits, paced, unpaced; the "
                       "figures are the medians of the rounds' ratios")  # fmt: skip
        p.add_argument(
            "--cpu-floor",
            type=float,
            default=8.0,
            metavar="SECONDS",
            help="first measure the machine's floor: p99 while one process spins on one core "
            "for SECONDS with no database work (0 skips it)",
        )
        p.add_argument(
            "--own-cluster",
            action="store_true",
            help="run on a private throwaway PostgreSQL (initdb) so other work on the shared "
            "server (its checkpoints, WAL, cache) cannot show up in the latencies",
        )
        p.add_argument(
            "--pg-setting",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="a server setting for --own-cluster (repeatable), e.g. autovacuum=off",
        )
        p.add_argument(
            "--no-prepare",
            action="store_true",
            help="the app never uses server-side prepared statements (default: psycopg's, after 5 runs)",
        )

    args = bench_args("schema changes under live load: expand-contract vs naive ALTER", extra=extra)
    if args.own_cluster:
        global ADMIN_URL
        settings = dict(item.split("=", 1) for item in args.pg_setting)
        with own_cluster(settings) as url:
            ADMIN_URL = url
            return run(args)
    return run(args)


def backfill_step(s: dict[str, Any]) -> dict[str, Any]:
    return next(st for st in s["detail"]["steps"] if st["backfill"])


def budget_round(
    args: Any, pace: dict[str, float], variant: dict[str, float] | None = None
) -> dict[str, Any]:
    """One round: the floor, the least write work, then the backfill paced and unpaced (and
    paced with the `--variant` settings, measured in the same round)."""
    runs = {"floor": scenario("one busy core, no database work", BusyCore(args.cpu_floor),
                              TYPE_LOAD, args),
            "trickle": scenario("one-row commits back to back", TrickleWriter(args.cpu_floor),
                                TYPE_LOAD, args)}  # fmt: skip
    kinds = [("paced", pace), ("unpaced", {"latency_budget_ratio": False})]
    kinds += [("variant", pace | variant)] if variant else []
    for name, safety in kinds:
        change = ExpandContract(TYPE_SPEC, args.deploy_seconds, args.batch_size,
                                args.batch_pause_ms, safety)  # fmt: skip
        runs[name] = scenario(f"int -> bigint, backfill {name}", change, TYPE_LOAD, args)
    paced, unpaced = backfill_step(runs["paced"]), backfill_step(runs["unpaced"])
    if variant:
        other = backfill_step(runs["variant"])
        extra = {"variant": other["p99_ms"], "variant_s": other["seconds"],
                 "variant_pace": other["pace"]}  # fmt: skip
    else:
        extra = {}
    return extra | {
        "scenarios": runs,
        "floor": runs["floor"]["during"]["p99_ms"],
        "trickle": runs["trickle"]["during"]["p99_ms"],
        "commits": (runs["trickle"]["detail"] or {}).get("commits"),
        "paced": paced["p99_ms"],
        "unpaced": unpaced["p99_ms"],
        "paced_base": runs["paced"]["baseline"]["p99_ms"],
        "unpaced_base": runs["unpaced"]["baseline"]["p99_ms"],
        "paced_s": paced["seconds"],
        "unpaced_s": unpaced["seconds"],
        "failed": runs["paced"]["during"]["failed"] + runs["paced"]["after"]["failed"],
        "wait": runs["paced"]["during"]["longest_app_lock_wait_ms"],
        "limit": (runs["paced"]["detail"] or {}).get("lock_timeout_ms") or DEFAULT_LOCK_TIMEOUT_MS,
        "pace": paced["pace"],
    }


def run_budget(args: Any) -> int:
    """The backfill under its latency budget vs the machine's floor and vs unpaced, in one run
    of `--rounds` rounds (each its own floor); with more than one, the medians of the rounds."""
    if args.quick:
        args.rows, args.baseline, args.tail = min(args.rows, 200_000), 3.0, 1.0
        args.deploy_seconds, args.cpu_floor = min(args.deploy_seconds, 1.0), min(args.cpu_floor, 5)
    pace = {k: float(v) for k, v in (item.split("=", 1) for item in args.pace)}
    print(f"latency budget: {args.rows:,} rows, {args.rate:g} ops/s on {args.threads} threads, "
          f"pacer settings {pace or 'defaults'}, {args.rounds} round(s); load average "
          f"{os.getloadavg()}", flush=True)  # fmt: skip
    variant = {k: float(v) for k, v in (item.split("=", 1) for item in args.variant)}
    rounds = [budget_round(args, pace, variant) for _ in range(max(1, args.rounds))]

    def mid(f: Any) -> float:
        return statistics.median(f(r) for r in rounds)

    figures = [
        Figure("backfill p99 / floor p99", mid(lambda r: r["paced"] / r["floor"]),
               mid(lambda r: r["unpaced"] / r["floor"]), "x",
               note=f"floor {mid(lambda r: r['floor']):.2f} ms (one busy core, no database work)"),
        Figure("backfill p99 / baseline p99", mid(lambda r: r["paced"] / r["paced_base"]),
               mid(lambda r: r["unpaced"] / r["unpaced_base"]), "x"),
        Figure("backfill p99", mid(lambda r: r["paced"]), mid(lambda r: r["unpaced"]), "ms"),
        Figure("backfill seconds", mid(lambda r: r["paced_s"]), mid(lambda r: r["unpaced_s"]), "s"),
        Figure("failed app queries", float(sum(r["failed"] for r in rounds)), None, "queries"),
        Figure("one-row commits p99 / floor p99", mid(lambda r: r["trickle"] / r["floor"]), None,
               "x", note="one-row commits back to back: what writing at all costs here"),
    ]  # fmt: skip
    extra = {"rounds": rounds, "pace": pace}
    code = report("latency_budget", figures, args, extra=extra)
    for i, r in enumerate(rounds, 1):
        lines = budget_goals(r)
        print(f"round {i}: " + "; ".join(lines))
        for key, sc in r["scenarios"].items():
            print(f"  {key}: baseline p99 {sc['baseline']['p99_ms']:.2f} ms, during "
                  f"{sc['during']['p99_ms']:.2f} ms, load average {sc['load_average']}")  # fmt: skip
        print(f"  one-row commits: {r['commits']} in {args.cpu_floor:g} s, p99 "
              f"{r['trickle']:.2f} ms = {r['trickle'] / r['floor']:.2f}x the floor")  # fmt: skip
        print(f"  settled pace: {r['pace']}")
        if "variant" in r:
            print(f"  variant {variant}: p99 {r['variant']:.2f} ms = "
                  f"{r['variant'] / r['floor']:.2f}x the floor, {r['variant_s']:.1f} s; "
                  f"settled pace {r['variant_pace']}")  # fmt: skip
    print(f"load average at the end {os.getloadavg()}")
    return code


def budget_goals(r: dict[str, Any]) -> list[str]:
    slower = r["paced_s"] / r["unpaced_s"] if r["unpaced_s"] else 0.0
    checks = (
        (r["paced"] <= 1.25 * r["floor"],
         (f"p99 {r['paced']:.2f} vs floor {r['floor']:.2f} ms = {r['paced'] / r['floor']:.2f}x "
          f"(unpaced {r['unpaced'] / r['floor']:.2f}x)")),
        (r["failed"] == 0, f"{r['failed']} failed queries"),
        (r["wait"] <= r["limit"], f"longest app lock wait {r['wait']:.0f} ms"),
        (slower <= 3.0, f"{slower:.2f}x the unpaced time"),
    )  # fmt: skip
    return [("met " if ok else "MISSED ") + text for ok, text in checks]


def run(args: Any) -> int:
    if args.budget:
        return run_budget(args)
    if args.quick:
        args.rows, args.baseline, args.tail = min(args.rows, 20_000), 2.0, 1.0
        args.deploy_seconds = min(args.deploy_seconds, 1.0)
    print(
        f"live load: {args.rows:,} rows, {args.rate:g} ops/s on {args.threads} threads, "
        f"baseline {args.baseline:g} s",
        flush=True,
    )
    runs: dict[str, dict[str, Any]] = {}
    changes = {
        "rename": (
            RENAME_SPEC,
            RENAME_LOAD,
            "ALTER TABLE users RENAME COLUMN email TO email_address",
            True,
        ),
        "type": (TYPE_SPEC, TYPE_LOAD, "ALTER TABLE users ALTER COLUMN n TYPE bigint", False),
    }
    figures: list[Figure] = []
    started = time.perf_counter()
    if args.cpu_floor:
        floor = runs["cpu-floor"] = scenario(
            "one busy core, no database work", BusyCore(args.cpu_floor), RENAME_LOAD, args
        )
        base, busy = floor["baseline"]["p99_ms"], floor["during"]["p99_ms"]
        figures.append(Figure("machine floor: p99 with one busy core / baseline",
                              busy / base if base else 0.0, None, "x",
                              note="no database work: what any sustained work costs here"))  # fmt: skip
    for label, (spec, load, statement, deploy) in changes.items():
        if args.only and args.only != label:
            continue
        runs[f"{label}-naive"] = scenario(
            f"{label} naive ALTER", Naive(statement, deploy, args.deploy_seconds), load, args
        )
        ours = ExpandContract(spec, args.deploy_seconds, args.batch_size, args.batch_pause_ms)
        runs[f"{label}-expand-contract"] = scenario(f"{label} expand-contract", ours, load, args)
        figures += figures_for(label, runs[f"{label}-expand-contract"], runs[f"{label}-naive"])
    print(f"(total {time.perf_counter() - started:.0f} s; ours = expand-contract, anchor = naive)")
    code = report("live_load", figures, args, extra={"scenarios": runs, "settings": {
        "rows": args.rows, "rate": args.rate, "threads": args.threads,
        "baseline_s": args.baseline, "deploy_s": args.deploy_seconds,
        "batch_size": args.batch_size, "batch_pause_ms": args.batch_pause_ms, "prepared_statements": not args.no_prepare}})  # fmt: skip
    for key, s in runs.items():
        if key == "cpu-floor":
            b, d = s["baseline"]["p99_ms"], s["during"]["p99_ms"]
            print(f"machine floor: one busy core, no database work: p99 {b:.2f} -> {d:.2f} ms "
                  f"({d / b if b else 0:.1f}x baseline)")  # fmt: skip
            continue
        print(f"goals, {key}:")
        for line in goals(s):
            print(f"  {line}")
        for err, n in s["during"]["errors"] + s["after"]["errors"]:
            print(f"  {n} x {err}")
        if s["error"]:
            print(f"  change failed: {s['error']}")
    return code


if __name__ == "__main__":
    sys.exit(main())
