"""The monitor: a baseline and then samples of a database for a while, stored and summarized.

`monitor(workspace, db, seconds=60, interval=1)` is what the `monitor` tool and
`datamigration monitor DB --for 60s` call: it takes a baseline (probe latency p50/p99 and the
counters), then one sample per interval (`safety/metrics.py`), appends each to
`.datamigration/runs/<run>/samples.jsonl` (a small time series `run-status` shows), and answers
with the baseline, the latest sample and a summary (latency percentiles over every probe, the
worst error rate, lag and connection use, throughput). Queries the user gives are timed through
the read-only query path; the application's Prometheus endpoint is scraped when given.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from datamigration.db.base import connect
from datamigration.errors import UserInputError
from datamigration.safety.metrics import Sampler, percentile
from datamigration.safety.prometheus import PrometheusEndpoint
from datamigration.safety.watch import SAMPLES_FILE, run_dir, samples_of
from datamigration.workspace.root import Workspace

MAX_SECONDS = 3600.0
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str | float, what: str = "duration") -> float:
    """`60`, `60s`, `2m`, `500ms`, `1h` -> seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        found = _DURATION.match(str(text))
        if not found:
            raise UserInputError(f"{what} {text!r} is not a duration",
                                 hint="Write it as 60s, 2m, 500ms or 1h.")  # fmt: skip
        seconds = float(found.group(1)) * _UNIT[found.group(2)]
    if seconds <= 0:
        raise UserInputError(f"{what} must be more than zero", hint="For example 60s.")
    return seconds


def monitor(
    workspace: Workspace,
    db: str,
    *,
    seconds: float = 60.0,
    interval: float = 1.0,
    queries: Sequence[str] = (),
    prometheus: str | None = None,
    run: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_sample: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Sample `db` for `seconds`, one sample per `interval` (module docstring)."""
    if seconds > MAX_SECONDS:
        raise UserInputError(f"monitoring for {seconds:g} s is longer than {MAX_SECONDS:g} s",
                             hint="Monitor in shorter stretches (they append to the same run).")  # fmt: skip
    interval = min(max(interval, 0.05), seconds)
    endpoint = PrometheusEndpoint(prometheus) if prometheus else None
    if endpoint is not None:
        endpoint.scrape()  # an endpoint that is down or speaks no Prometheus fails up front
    name = run or f"monitor-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}", name):
        raise UserInputError(f"run name {name!r} is not a plain name",
                             hint="Use letters, digits, '.', '_' and '-'.")  # fmt: skip
    path = run_dir(workspace.state_dir, name) / SAMPLES_FILE
    with connect(db, workspace) as backend, _series(path) as fh:
        sampler = Sampler(backend, user_queries=tuple(queries), prometheus=endpoint)

        def keep(sample: dict[str, Any]) -> None:
            samples.append(sample)
            fh.write(json.dumps({"step": None, **sample}, default=str) + "\n")
            fh.flush()  # run-status shows the series while it grows

        samples: list[dict[str, Any]] = []
        baseline = sampler.baseline()
        keep(baseline | {"baseline": True, "database": backend.label})
        probes: list[float] = list(sampler.latencies)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            sleep(min(interval, max(0.0, deadline - time.monotonic())))
            sampler.latencies.clear()  # each sample's percentiles are its own probes'
            sample = sampler.sample()
            probes += list(sampler.latencies)
            keep(sample)
            if on_sample is not None:
                on_sample(sample)
        label = backend.label
    return {
        "run": name,
        "database": label,
        "samples_file": workspace.relative(path),
        "samples": len(samples),
        "seconds": round(seconds, 3),
        "baseline": baseline,
        "latest": samples[-1],
        "summary": summarize(samples, probes),
        "unavailable": sorted(set(baseline.get("unavailable", []))),
    }


def _series(path: Path) -> Any:
    """The run's samples file, opened for appending once the database answered."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("a", encoding="utf-8")


def summarize(samples: list[dict[str, Any]], probes: list[float]) -> dict[str, Any]:
    """The figures a person asks first: latency over every probe, the worst of the rest."""

    def values(key: str) -> list[float]:
        return [float(s[key]) for s in samples if isinstance(s.get(key), int | float)]

    def top(key: str) -> float | None:
        found = values(key)
        return max(found) if found else None

    tps = values("throughput_tps")
    slot = [s["slot_lag"]["seconds"] for s in samples if s.get("slot_lag")]
    return {
        "latency_ms": {
            q: (round(v, 3) if (v := percentile(probes, n)) is not None else None)
            for q, n in (("p50", 50), ("p95", 95), ("p99", 99))
        },
        "probes": len(probes),
        "error_rate_max": top("error_rate"),
        "throughput_tps_mean": round(sum(tps) / len(tps), 1) if tps else None,
        "connections_used_max": top("connections_used"),
        "lock_waits_max": top("lock_waits"),
        "oldest_transaction_s_max": top("oldest_transaction_s"),
        "replication_lag_s_max": top("replication_lag_s"),
        "slot_lag_s_max": max(slot) if slot else None,
        "disk_free_bytes_min": min(values("disk_free_bytes"), default=None),
    }


def stored_baseline(workspace: Workspace, database: str) -> dict[str, Any] | None:
    """The newest baseline a monitor run took of `database` (its label), or None."""
    folder = workspace.state_dir / "runs"
    files = sorted(folder.glob(f"*/{SAMPLES_FILE}"), key=lambda f: f.stat().st_mtime, reverse=True)
    for path in files:
        with path.open(encoding="utf-8") as fh:
            first = fh.readline()
        try:
            found = json.loads(first)
        except ValueError:
            continue
        if isinstance(found, dict) and found.get("baseline") and found.get("database") == database:
            return found | {"run": path.parent.name}
    return None


def brief(sample: dict[str, Any]) -> dict[str, Any]:
    """The few readings of a stored sample that `run-status` shows."""
    if "fired" in sample:
        return {"step": sample.get("step"), "fired": sample["fired"]}
    slot = sample.get("slot_lag") or {}
    out = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(sample.get("at") or 0))),
        "step": sample.get("step"),
        "p99_ms": (sample.get("latency_ms") or {}).get("p99"),
        "error_rate": sample.get("error_rate"),
        "throughput_tps": sample.get("throughput_tps"),
        "connections_used": sample.get("connections_used"),
        "replication_lag_s": sample.get("replication_lag_s"),
        "slot_lag_s": slot.get("seconds"),
        "disk_free_bytes": sample.get("disk_free_bytes"),
        "rows_per_s": sample.get("rows_per_s"),
    }
    return {k: v for k, v in out.items() if v is not None}


def run_samples(workspace: Workspace, run: str, limit: int = 5) -> dict[str, Any]:
    """The stored series of a run (a plan's or a monitor's): its latest samples, briefly."""
    found = samples_of(workspace.state_dir, run, limit)
    path = run_dir(workspace.state_dir, run) / SAMPLES_FILE
    return {"samples": [brief(s) for s in found],
            "samples_file": workspace.relative(path) if path.is_file() else None}  # fmt: skip
