"""The post-migration performance check: the application's representative reads, timed and
EXPLAINed before the first step of a plan and after its last, compared.

The queries are the reads people care about: `queries` of `[performance]` in datamigration.toml,
the `queries` a plan step's `monitoring` names, and those a run is given. Each one runs through
the read-only query path (`Backend.query`, timed `repeat` times, the median kept) and is
explained through it (`Backend.explain_read`: PostgreSQL `EXPLAIN (FORMAT JSON)`, MySQL
`EXPLAIN FORMAT=JSON`, SQLite `EXPLAIN QUERY PLAN`; the dialect's part lives in `db/<db>/`).

A regression is any of: a full (sequential) scan of a table that was read through an index
before; the planner's total cost up by more than `cost_ratio` (default 2x); the median latency
up by more than `latency_ratio` (default 2x) and above `latency_floor_ms` (default 5 ms, so
noise on a sub-millisecond read does not count). The "before" side is stored under
`.datamigration/runs/<plan>/performance-before.json`, so a plan run step by step over days
still compares with the database as it was before its first step.

    [performance]
    queries = ["SELECT id FROM users WHERE email = 'a@example.com'"]
    cost_ratio = 2.0
    latency_ratio = 2.0
    latency_floor_ms = 5.0
    repeat = 5
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from datamigration.db.base import Backend
from datamigration.errors import DataMigrationError, UserInputError
from datamigration.safety.watch import run_dir

SECTION = "performance"
BEFORE_FILE = "performance-before.json"


@dataclass(frozen=True)
class PerfPolicy:
    cost_ratio: float = 2.0
    latency_ratio: float = 2.0
    latency_floor_ms: float = 5.0
    repeat: int = 5
    timeout_ms: int = 10_000

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PerfPolicy:
        section = dict(config.get(SECTION) or {})
        known = {f.name: f for f in fields(cls)}
        kw: dict[str, Any] = {}
        for key, value in section.items():
            if key == "queries":
                continue
            if key not in known:
                raise UserInputError(f"datamigration.toml: [{SECTION}] has no setting {key!r}",
                                     hint=f"Known: queries, {', '.join(sorted(known))}.")  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise UserInputError(f"datamigration.toml: [{SECTION}] {key} = {value!r} is not "
                                     "a number > 0", hint=f"Set {key} to a positive number.")  # fmt: skip
            kw[key] = int(value) if known[key].type == "int" else float(value)
        return cls(**kw)


def queries_of(config: Mapping[str, Any], plan: Any = None, extra: Iterable[str] = ()) -> list[str]:
    """The representative reads: datamigration.toml's, the plan steps' and the run's, once each."""
    found: list[str] = []
    listed = (config.get(SECTION) or {}).get("queries") or []
    if isinstance(listed, str) or not all(isinstance(q, str) for q in listed):
        raise UserInputError(f"datamigration.toml: [{SECTION}] queries must be a list of strings",
                             hint='queries = ["SELECT ... WHERE ..."]')  # fmt: skip
    found += listed
    for step in getattr(plan, "steps", ()) or ():
        found += [q for q in (step.monitoring or {}).get("queries") or () if isinstance(q, str)]
    found += list(extra)
    return list(dict.fromkeys(q.strip().rstrip(";") for q in found if q.strip()))


def measure(backend: Backend, queries: Sequence[str], policy: PerfPolicy) -> list[dict[str, Any]]:
    """Each query timed (median of `repeat` runs) and explained; a query that fails is recorded
    with its error (the comparison then reports it)."""
    out = []
    for sql in queries:
        entry: dict[str, Any] = {"sql": sql}
        try:
            times = []
            for _ in range(max(1, policy.repeat)):
                started = time.perf_counter()
                backend.query(sql, max_rows=100, timeout_ms=policy.timeout_ms)
                times.append((time.perf_counter() - started) * 1000)
            entry["ms"] = round(statistics.median(times), 3)
            entry["plan"] = backend.explain_read(sql, timeout_ms=policy.timeout_ms)
        except DataMigrationError as exc:
            entry["error"] = exc.message
        out.append(entry)
    return out


def compare(before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]],
            policy: PerfPolicy) -> dict[str, Any]:  # fmt: skip
    """The verdict: regressions found (see the module docstring) and each query's figures."""
    then = {b["sql"]: b for b in before}
    regressions, queries = [], []
    for now in after:
        sql, was = now["sql"], then.get(now["sql"])
        row = {"sql": sql, "ms_before": (was or {}).get("ms"), "ms_after": now.get("ms"),
               "cost_before": _cost(was), "cost_after": _cost(now)}  # fmt: skip
        queries.append(row)
        if now.get("error"):
            regressions.append({"sql": sql, "kind": "error", "detail": now["error"]})
            continue
        if was is None or was.get("error"):
            continue
        regressions += _worse(sql, was, now, policy)
    passed = not regressions
    summary = (f"{len(queries)} representative quer{'y' if len(queries) == 1 else 'ies'}: "
               + ("no regression" if passed else "; ".join(r["detail"] for r in regressions)))  # fmt: skip
    return {"ran": True, "passed": passed, "summary": summary, "regressions": regressions,
            "queries": queries}  # fmt: skip


def _cost(entry: Mapping[str, Any] | None) -> float | None:
    return ((entry or {}).get("plan") or {}).get("cost")


def _worse(sql: str, was: Mapping[str, Any], now: Mapping[str, Any], p: PerfPolicy) -> list[dict]:
    out = []
    indexed = {s["table"]: s.get("index") for s in (was.get("plan") or {}).get("scans", ())
               if s["method"] == "index"}  # fmt: skip
    for scan in (now.get("plan") or {}).get("scans", ()):
        if scan["method"] == "seq" and scan["table"] in indexed:
            out.append({"sql": sql, "kind": "seq_scan", "table": scan["table"],
                        "detail": f"{scan['table']} is now read by a sequential scan (it was read "
                        f"through index {indexed[scan['table']]}) in: {sql[:120]}"})  # fmt: skip
    c0, c1 = _cost(was), _cost(now)
    if c0 and c1 is not None and c1 > c0 * p.cost_ratio:
        out.append({"sql": sql, "kind": "cost", "before": c0, "after": c1,
                    "detail": f"planner cost {c0:g} -> {c1:g} (more than {p.cost_ratio:g}x) "
                    f"in: {sql[:120]}"})  # fmt: skip
    m0, m1 = was.get("ms"), now.get("ms")
    if m0 and m1 is not None and m1 > m0 * p.latency_ratio and m1 > p.latency_floor_ms:
        out.append({"sql": sql, "kind": "latency", "before": m0, "after": m1,
                    "detail": f"median latency {m0:g} ms -> {m1:g} ms (more than "
                    f"{p.latency_ratio:g}x) in: {sql[:120]}"})  # fmt: skip
    return out


def _before_path(state_dir: Path, plan_id: str) -> Path:
    return run_dir(state_dir, plan_id) / BEFORE_FILE


def record_before(state_dir: Path, plan_id: str, backend: Backend, queries: Sequence[str],
                  policy: PerfPolicy) -> list[dict[str, Any]]:  # fmt: skip
    """Measure the reads before the plan's first step and keep the figures for the end."""
    before = measure(backend, queries, policy)
    path = _before_path(state_dir, plan_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"at": time.time(), "queries": before}, default=str) + "\n")
    return before


def check_after(state_dir: Path, plan_id: str, backend: Backend, queries: Sequence[str],
                policy: PerfPolicy) -> dict[str, Any]:  # fmt: skip
    """Measure again after the last step and compare with the stored "before"."""
    path = _before_path(state_dir, plan_id)
    if not path.is_file():
        return {"ran": False, "passed": None, "summary": "no measurement from before the first "
                "step (the plan started before the queries were configured)"}  # fmt: skip
    before = json.loads(path.read_text(encoding="utf-8")).get("queries") or []
    return compare(before, measure(backend, queries, policy), policy)
