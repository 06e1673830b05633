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
REMOVE_COMMAND = "datamigration sync stop {run} --yes"


def by_run(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Capture objects grouped by run, each run with how to remove it."""
    runs: dict[str, dict[str, Any]] = {}
    for item in items:
        run = item["run"]
        entry = runs.setdefault(run, {
            "run": run, "objects": [], "retained_wal_bytes": 0,
            "command": REMOVE_COMMAND.format(run=run), "sql": [],
        })  # fmt: skip
        entry["objects"].append(f"{item['kind']} {item['name']}")
        detail = item.get("detail")
        if isinstance(detail, dict):
            entry["retained_wal_bytes"] += int(detail.get("retained_wal_bytes") or 0)
        if item.get("remove"):
            entry["sql"].append(item["remove"])
    return list(runs.values())


def capture_report(backend: Any) -> dict[str, Any]:
    """The capture objects on a database in three groups: `abandoned` (no running sync holds
    them: a crashed or killed run), `unknown` (the capture cannot tell whether its sync runs;
    `datamigration sync status` can) and `live` (names held by a running sync; a live slot is
    idle between reads and must not read as abandoned), or why they could not be read."""
    try:
        found = backend.capture_leftovers()
    except DataMigrationError as exc:
        return {"abandoned": [], "unknown": [], "live": [], "error": exc.message}
    return {
        "abandoned": by_run([x for x in found if x.get("live") is False]),
        "unknown": by_run([x for x in found if x.get("live") is None]),
        "live": sorted(x["name"] for x in found if x.get("live")),
    }


def describe(runs: list[dict[str, Any]]) -> str:
    """One line per run, for a check's detail and the terminal."""
    return "; ".join(
        f"run {a['run']}: {', '.join(a['objects'])}"
        + (f" ({a['retained_wal_bytes'] / 2**20:.1f} MiB of WAL held)" if a["retained_wal_bytes"]
           else "")
        + f"; remove with `{a['command']}`"
        + (f" (or: {' '.join(a['sql'])})" if a["sql"] else "")
        for a in runs
    )  # fmt: skip
