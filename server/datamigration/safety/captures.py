"""Abandoned change captures: the slots, publications, triggers and change tables a sync run
left on a source database when it crashed or was killed.

Why it matters: an abandoned logical slot keeps every WAL segment from its position on (disks
fill and servers stop), and abandoned capture triggers keep adding work to every write. The
backend lists its capture objects with `live` (a running sync holds them); everything here is
what no live run owns, each with the command that removes it. `run-status` and the health
check show them.
"""

from __future__ import annotations

from typing import Any

from datamigration.errors import DataMigrationError

#: the command that removes a run's capture objects (the sync engine's stop)
REMOVE_COMMAND = "datamigration sync stop {run}"


def abandoned_captures(leftovers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Capture objects no running sync holds, grouped by run, each with how to remove it."""
    by_run: dict[str, dict[str, Any]] = {}
    for item in leftovers:
        if item.get("live"):
            continue
        run = item["run"]
        entry = by_run.setdefault(run, {
            "run": run, "objects": [], "retained_wal_bytes": 0,
            "command": REMOVE_COMMAND.format(run=run), "sql": [],
        })  # fmt: skip
        entry["objects"].append(f"{item['kind']} {item['name']}")
        entry["retained_wal_bytes"] += int(
            (item.get("detail") or {}).get("retained_wal_bytes") or 0
        )
        if item.get("remove"):
            entry["sql"].append(item["remove"])
    return list(by_run.values())


def capture_report(backend: Any) -> dict[str, Any]:
    """Abandoned captures and the names of the objects running syncs hold (a live slot is idle
    between reads, so it must not read as abandoned), or why they could not be read."""
    try:
        found = backend.capture_leftovers()
    except DataMigrationError as exc:
        return {"abandoned": [], "live": [], "error": exc.message}
    live = sorted(x["name"] for x in found if x.get("live"))
    return {"abandoned": abandoned_captures(found), "live": live}


def describe(abandoned: list[dict[str, Any]]) -> str:
    """One line per abandoned run, for a check's detail and the terminal."""
    return "; ".join(
        f"run {a['run']}: {', '.join(a['objects'])} ({a['retained_wal_bytes'] / 2**20:.1f} MiB "
        f"of WAL held); remove with `{a['command']}` (or: {' '.join(a['sql'])})"
        for a in abandoned
    )
