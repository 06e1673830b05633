"""Is it safe to start now? One call that looks at what would make a migration hurt.

`health_check(workspace, db)` takes a short baseline of the database (`safety/metrics.py`) and
answers `safe` with each check and why it failed: load (connections against the maximum),
probe latency against the newest baseline a `monitor` run recorded, replication lag, long-running transactions, blocking locks,
abandoned replication slots (inactive, holding WAL), abandoned change captures of sync runs
(`safety/captures.py`, with the command that removes them), disk free against the floor, the age of
the newest verified backup of the database (`safety/backup/`: missing or older than `[backup]
max_age_hours` is a problem, as it is to the executor's gate; with `[backup] required = false`
it is only reported), and the maintenance windows of datamigration.toml (`safety/windows.py`; with `heavy=True` a closed
window fails the check and names the next one). Thresholds are the watch's (`[safety]`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from datamigration.db.base import connect
from datamigration.safety.backup.gate import newest_verified
from datamigration.safety.backup.manifest import BackupSettings
from datamigration.safety.captures import capture_report, describe
from datamigration.safety.metrics import Sampler
from datamigration.safety.monitor import stored_baseline
from datamigration.safety.watch import WatchPolicy
from datamigration.safety.windows import window_state
from datamigration.workspace.root import Workspace

#: more than this share of max_connections in use is too busy to start
CONNECTIONS_MAX_USED = 0.8


def _check(name: str, ok: bool | None, detail: str) -> dict[str, Any]:
    return {"check": name, "ok": ok, "detail": detail}


def health_check(
    workspace: Workspace, db: str, *, heavy: bool = True, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Whether heavy work may start on `db` now (module docstring)."""
    policy = WatchPolicy.build(workspace.config)
    windows = window_state(workspace.config, now)  # a bad definition fails before connecting
    with connect(db, workspace) as backend:
        sampler = Sampler(backend, probe_timeout_ms=policy.probe_timeout_ms)
        s = sampler.baseline(policy.baseline_probes)
        slots = backend.replication_slots()
        captures = capture_report(backend)
        label = backend.label
    checks = [_load(s), _against_baseline(s, stored_baseline(workspace, label), policy),
              *_locks(s), _lag(s, policy), _slots(slots, captures), _captures(captures),
              _disk(s, policy)]  # fmt: skip
    backup = _backup(workspace, db)
    checks.append(backup.pop("check_row"))
    if windows["configured"]:
        nxt = windows["next"]
        detail = (f"inside the window {windows['window']}" if windows["open"] else
                  "outside every maintenance window" + (f"; the next opens {nxt['starts']} "
                  f"({nxt['window']})" if nxt else ""))  # fmt: skip
        checks.append(_check("window", windows["open"] or not heavy, detail))
    else:
        checks.append(_check("window", True, "no [windows] configured: any time"))
    failing = [c for c in checks if c["ok"] is False]
    return {
        "safe": not failing,
        "database": label,
        "reasons": [f"{c['check']}: {c['detail']}" for c in failing],
        "checks": checks,
        "latency_ms": s.get("latency_ms"),
        "window": windows,
        "backup": backup,
        "unavailable": s.get("unavailable", []),
    }


def _load(s: dict[str, Any]) -> dict[str, Any]:
    used = s.get("connections_used")
    if used is None:
        return _check("load", None, "connection counts not available here")
    return _check("load", used <= CONNECTIONS_MAX_USED,
                  f"{s.get('connections')} of {s.get('max_connections')} connections in use "
                  f"({used:.0%}; limit {CONNECTIONS_MAX_USED:.0%}), probe p99 "
                  f"{(s.get('latency_ms') or {}).get('p99')} ms")  # fmt: skip


def _against_baseline(
    s: dict[str, Any], base: dict[str, Any] | None, policy: WatchPolicy
) -> dict[str, Any]:
    """Probe p99 now against the newest baseline a `monitor` run took of this database."""
    now_p99 = (s.get("latency_ms") or {}).get("p99")
    then = ((base or {}).get("latency_ms") or {}).get("p99")
    if base is None or now_p99 is None or then is None:
        return _check("latency", None, "no monitor baseline of this database yet: run monitor "
                      "at a normal hour to record one")  # fmt: skip
    ratio = policy.latency_p99_ratio or 2.0
    limit = max(policy.latency_floor_ms, then * ratio)
    return _check("latency", now_p99 <= limit,
                  f"probe p99 {now_p99} ms against {then} ms in the baseline of run "
                  f"{base['run']} (limit {limit:.1f} ms)")  # fmt: skip


def _locks(s: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    if "long_transactions" in s:
        n = s["long_transactions"]
        out.append(_check("long_transactions", n == 0,
                          f"{n} transaction(s) open longer than 60 s (oldest "
                          f"{s.get('oldest_transaction_s')} s): they hold locks and block "
                          "vacuum; find them in pg_stat_activity / INNODB_TRX"))  # fmt: skip
    if "blocking_sessions" in s:
        n = s["blocking_sessions"]
        out.append(_check("blocking_locks", n == 0, f"{n} session(s) blocking others, "
                          f"{s.get('lock_waits', 0)} waiting for a lock"))  # fmt: skip
    return out


def _lag(s: dict[str, Any], policy: WatchPolicy) -> dict[str, Any]:
    lag = s.get("replication_lag_s")
    limit = policy.replication_lag_seconds
    if lag is None:
        return _check("replication_lag", None, "no standbys reported")
    return _check("replication_lag", limit is None or lag <= limit,
                  f"standbys {lag:.1f} s behind (limit {limit} s)")  # fmt: skip


def _slots(slots: list[dict[str, Any]], captures: dict[str, Any]) -> dict[str, Any]:
    """Inactive slots holding WAL; a sync's slot is idle between its reads, so the slots of
    live syncs are not counted and abandoned capture slots are named by `_captures`."""
    ours = set(captures["live"]) | {o.split(" ", 1)[1] for a in captures["abandoned"]
                                    + captures["unknown"] for o in a["objects"]}  # fmt: skip
    idle = [x for x in slots if not x.get("active") and x["name"] not in ours]
    if not idle:
        return _check("replication_slots", True, f"{len(slots)} slot(s), none abandoned")
    names = ", ".join(f"{x['name']} ({(x.get('retained_bytes') or 0) / 2**20:.1f} MiB of WAL "
                      "held)" for x in idle)  # fmt: skip
    return _check("replication_slots", False, f"inactive slot(s) holding WAL: {names}; start "
                  "their consumer or drop them (pg_drop_replication_slot) if abandoned")  # fmt: skip


def _captures(captures: dict[str, Any]) -> dict[str, Any]:
    if captures.get("error"):
        return _check("capture_leftovers", None, f"capture objects not read: {captures['error']}")
    if captures["abandoned"]:
        return _check("capture_leftovers", False, "abandoned change capture (no running sync "
                      "holds it): " + describe(captures["abandoned"]))  # fmt: skip
    if captures["unknown"]:
        return _check("capture_leftovers", None, "change capture objects whose sync may be "
                      "running (datamigration sync status tells): "
                      + describe(captures["unknown"]))  # fmt: skip
    return _check("capture_leftovers", True, f"{len(captures['live'])} object(s) of running "
                  "syncs, none abandoned")  # fmt: skip


def _disk(s: dict[str, Any], policy: WatchPolicy) -> dict[str, Any]:
    free, total = s.get("disk_free_bytes"), s.get("disk_total_bytes")
    if free is None or not total:
        return _check("disk", None, "the database is not on this machine: disk not read")
    floor = max([policy.disk_free_min_bytes or 0,
                 total * (policy.disk_free_min_percent or 0) / 100])  # fmt: skip
    return _check("disk", free >= floor, f"{free / 2**30:.1f} GiB free of {total / 2**30:.1f} "
                  f"GiB (floor {floor / 2**30:.1f} GiB)")  # fmt: skip


def _backup(workspace: Workspace, db: str) -> dict[str, Any]:
    """The newest verified backup of `db`: its id, age and what it holds, with the check row."""
    settings = BackupSettings.of(workspace)
    limit = settings.max_age_hours
    found = newest_verified(workspace, db)
    if found is None:
        out: dict[str, Any] = {"id": None, "age_hours": None, "max_age_hours": limit}
        ok, detail = False, ("no verified backup of this database: take one (backup tool; CLI: "
                             "datamigration backup DB) before a step that can lose data")  # fmt: skip
    else:
        m, age = found
        names = [str(t.get("name")) for t in m.get("tables", [])]
        held = "the whole database" if m.get("whole_database") else ", ".join(names)
        out = {"id": m.get("id"), "age_hours": round(age, 2), "max_age_hours": limit,
               "tables": None if m.get("whole_database") else names}  # fmt: skip
        ok = age <= limit
        detail = f"newest verified backup {m.get('id')} ({held}) is {age:.1f} h old " + (
            f"(limit {limit:g} h)" if ok else f"(older than the limit of {limit:g} h): take a "
            "new one (backup tool) before a step that can lose data")  # fmt: skip
    if not settings.required:
        ok, detail = (True if ok else None), detail + "; not required ([backup] required = false)"
    return out | {"check_row": _check("backup", ok, detail)}
