"""Never migrate without a backup: the executor's check before a step that can lose data.

A step can lose data when the plan marks it destructive (a contract: a drop, a swap that drops
the old copy; plan/drops.py marks any DROP the plan does not own) or a point of no return
(`reversible: false`: a type change or a fill that keeps no previous values). Before the first
such step of a run, the executor asks `check_before`: is there a verified backup (restore test
passed) of this database, covering the plan's tables, younger than `[backup] max_age_hours`?
Without one the run is refused before anything is done, with the command that takes it. An
override is explicit (`--without-backup REASON` / `without_backup`), part of the action the
user confirms, and the executor records it on the story and posts it on the bus as a warning.

The checklist items that can be checked ride along: a rehearsal recorded in the plan, its
rollback rehearsed. They are reported; `[backup] require_rehearsal = true` makes them refuse.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

from datamigration.db.dialect import dialect_of
from datamigration.db.urls import resolve
from datamigration.errors import ConflictError, UserInputError
from datamigration.plan.model import Plan, Step
from datamigration.safety.backup.manifest import (
    BackupSettings,
    all_manifests,
    parse_time,
    summary,
)


class BackupRequiredError(ConflictError):
    """A step that can lose data has no verified, recent backup covering its tables."""


def loses_data(step: Step) -> bool:
    """Destructive (a drop) or a point of no return (old values not kept)."""
    return step.destructive or not step.reversible


def same_database_key(url: Any) -> tuple[Any, ...]:
    """What makes two URLs name one database: dialect, host, port (the default when none is
    written), database (a SQLite file's resolved path); user and password do not matter."""
    port = url.port or dialect_of(url.dialect).default_port
    return (url.dialect, (url.host or "").lower(), port, url.database)


def _bare(name: str) -> str:
    return name.rpartition(".")[2]


def _of_database(workspace: Any, url: str) -> Iterator[tuple[dict[str, Any], float]]:
    """The manifests of the database `url` names (newest first), each with its age in hours."""
    database = same_database_key(resolve(url, workspace))
    now = dt.datetime.now(dt.UTC)
    for m in all_manifests(workspace):
        try:
            if same_database_key(resolve(str(m.get("database")), workspace)) != database:
                continue
        except UserInputError:  # a manifest naming no URL we can read
            continue
        yield m, (now - parse_time(str(m.get("created_at")))).total_seconds() / 3600


def covering_backup(
    workspace: Any, url: str, tables: Sequence[str], max_age_hours: float
) -> tuple[dict[str, Any] | None, list[str]]:
    """The newest verified backup of `url` covering `tables` younger than the limit, and why
    each other backup of this database does not count (for the refusal)."""
    why: list[str] = []
    for m, age_h in _of_database(workspace, url):
        held = {_bare(t.get("name", "")) for t in m.get("tables", [])}
        missing = [t for t in tables if _bare(t) not in held]
        if not m.get("verified"):
            why.append(f"{m['id']} is not verified ({(m.get('restore_test') or {}).get('error')})")
        elif age_h > max_age_hours:
            why.append(f"{m['id']} is {age_h:.1f} h old (limit {max_age_hours:g} h)")
        elif missing and not m.get("whole_database"):
            why.append(f"{m['id']} does not cover {', '.join(missing)}")
        else:
            return m, why
    return None, why


def newest_verified(workspace: Any, url: str) -> tuple[dict[str, Any], float] | None:
    """The newest verified backup of the database `url` names (whole or some of its tables)
    and its age in hours, or None: what the health check reports as the backup's age."""
    found = [(m, age) for m, age in _of_database(workspace, url) if m.get("verified")]
    return min(found, key=lambda pair: pair[1], default=None)


def checklist(plan: Plan) -> dict[str, bool]:
    """What of the pre-migration checklist can be checked from the plan itself."""
    rehearsal = plan.rehearsal or {}
    return {
        "rehearsal_recorded": bool(rehearsal),
        "rollback_rehearsed": rehearsal.get("rollback_seconds") is not None,
    }


def check_before(
    workspace: Any,
    plan: Plan,
    steps: Sequence[Step],
    url: str,
    *,
    without_backup: str | None = None,
) -> dict[str, Any] | None:
    """None when none of `steps` can lose data; else what holds (the backup used, or the
    override and its reason, and the checklist). Refuses when no backup holds."""
    risky = [s for s in steps if loses_data(s)]
    if not risky:
        return None
    if without_backup is not None and not without_backup.strip():
        raise UserInputError("an override without a reason", hint="Say why there is no backup: "
                             "--without-backup 'REASON' (it is recorded on the story).")  # fmt: skip
    settings = BackupSettings.of(workspace)
    items = checklist(plan)
    ids = [s.id for s in risky]
    out: dict[str, Any] = {"steps": ids, "checklist": items, "required": settings.required}
    if settings.require_rehearsal and not all(items.values()):
        raise BackupRequiredError(
            f"step(s) {', '.join(ids)} of plan {plan.id} can lose data and the plan has no "
            "recorded rehearsal with its rollback ([backup] require_rehearsal)",
            hint=f"Rehearse first: `datamigration rehearse {plan.id} --hash {plan.hash[:12]}`, "
            "then run with the plan's new hash.",
            checklist=items,
        )
    if not settings.required:
        return out | {"backup": None}
    tables = plan.tables
    found, why = covering_backup(workspace, url, tables, settings.max_age_hours)
    if found is not None:
        return out | {"backup": summary(found, workspace)}
    if without_backup:
        return out | {"backup": None, "without_backup": without_backup.strip()}
    target = resolve(url, workspace)
    db = target.name or target.redacted
    raise BackupRequiredError(
        f"step(s) {', '.join(ids)} of plan {plan.id} can lose data, and there is no verified "
        f"backup of {target.redacted} covering {', '.join(tables)} younger than "
        f"{settings.max_age_hours:g} h" + (f" ({'; '.join(why[:3])})" if why else ""),
        hint=f"Take one (dumped, restored and compared) with datamigration backup {db} "
        f"--tables {' '.join(tables)}, then run the step again. Or, knowingly, run it with "
        "--without-backup REASON: the override is confirmed, recorded on the story and "
        "posted on the bus as a warning.",
        steps=ids,
        tables=list(tables),
        checklist=items,
    )
