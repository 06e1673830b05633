"""The human side of a plan: the pre-flight checklist and the communication plan.

Pure wording from the plan's steps and estimates; kept out of the planner so the planner reads
as the order of building a plan."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datamigration.plan.model import ChecklistItem, CommunicationItem, Estimates, Step

#: the application's side of a dual write (a move between systems): what its code must do
DUAL_WRITE = (
    ChecklistItem(
        "dual_write_order",
        "The application writes the old database (the source of truth) first and the new one "
        "second, through one code path (datamigration.move.sync.dual_write.DualWriter, or the "
        "same order by hand): a write the old side refuses fails the request; a failure on the "
        "new side never does.",
    ),
    ChecklistItem(
        "dual_write_log",
        "Every failed write to the new side is recorded with its table, key, operation, error "
        "and time (DualWriter's reconcile log, .datamigration/dual_write/<name>.jsonl), and an "
        "alert fires while the log is not empty.",
    ),
    ChecklistItem(
        "dual_write_keys",
        "Keys come from the application or the old database, never from a second sequence on "
        "the new one, so a row has the same key on both sides; a transaction writing several "
        "rows dual-writes (and on failure records) each of them.",
    ),
    ChecklistItem(
        "dual_write_reconcile",
        "reconcile() runs on a schedule and right before cutover: it copies each recorded key "
        "from old to new again (or deletes it there) and clears it; the checksum diff "
        "(diff_data) between old and new stays empty while the application runs.",
    ),
    ChecklistItem(
        "dual_write_reads",
        "Reads stay on the old side until shadow_reads passes its gate (0 mismatches over "
        "10,000 reads); the read path then flips by a flag, and writes stay dual until the "
        "old side is decommissioned.",
    ),
)


def checklist(
    post: list[dict[str, Any]], result_type_changes: Sequence[str] = (), *, pattern: str = ""
) -> tuple[ChecklistItem, ...]:
    """The checks a person makes before the first step, with the prepared-statement check
    only when a column's result type changes (it would be noise otherwise) and the
    application's dual-write checks only for a move between systems."""
    items = (
        ChecklistItem("backup", "A backup taken and verified by restoring it (not just listed)."),
        ChecklistItem(
            "staging",
            "The plan rehearsed on staging (or a throwaway copy) with "
            "timings recorded in the plan.",
        ),
        ChecklistItem("rollback", "The rollback rehearsed: every step's rollback ran on staging."),
        ChecklistItem(
            "monitoring",
            "Dashboards/alerts for error rate, p99 latency and "
            "replication lag are open, with the baseline noted.",
        ),
        ChecklistItem(
            "communication",
            "The team and on-call were told when and what (see the communication plan).",
        ),
        ChecklistItem(
            "validation",
            f"The {len(post)} validation rules of the post-migration plan were reviewed.",
        ),
    )
    if result_type_changes:
        cols = ", ".join(result_type_changes)
        items += (
            ChecklistItem(
                "prepared_statements",
                f"Applications that prepare statements on the server (psycopg automatic "
                f"prepare, JDBC, PgBouncer session mode) are ready for the type swap of {cols}: "
                "connection pools are recycled (or DISCARD ALL runs) right after the swap, or "
                "the deployed version no longer has a cached statement reading the column; "
                "the alert on 'cached plan must not change result type' is set.",
            ),
        )
    return items + (DUAL_WRITE if pattern == "dual_write_cdc" else ())


def communication(
    title: str,
    e: Estimates,
    story: str | None,
    result_type_changes: Sequence[str] = (),
    steps: Sequence[Step] = (),
) -> tuple[CommunicationItem, ...]:
    """What to tell whom, saying only what the steps do (no deploy to announce when the plan
    has no switch step, no "old shape removed" without a contract step)."""
    ref = f" ({story})" if story else ""
    phases = {s.phase for s in steps}
    final = [s.id for s in steps if not s.reversible]
    rollback = (
        "Rollback is prepared per step."
        if not final
        else (f"Rollback is prepared per step except {', '.join(final)} (point of no return).")
    )
    deploy: tuple[CommunicationItem, ...] = ()
    if "switch" in phases:
        keeps = "until the contract step" if "contract" in phases else "throughout"
        deploy = (
            CommunicationItem(
                "switch",
                "application owners",
                "Deploy the application version of the switch step when asked; the old "
                f"version keeps working {keeps}.",
            ),
        )
    done = "old shape removed" if "contract" in phases else "nothing was removed"
    mins = max(1, round(e.total_seconds / 60))
    swap: tuple[CommunicationItem, ...] = ()
    if result_type_changes:
        swap = (
            CommunicationItem(
                "swap",
                "application owners, on-call",
                f"The type swap of {', '.join(result_type_changes)} changes the column's result "
                "type: connections holding server-side prepared statements that read it fail "
                "with 'cached plan must not change result type' until they prepare again. "
                "Recycle the connection pools (or DISCARD ALL) right after the swap step; a "
                "burst of that error right after it is this, not data loss.",
            ),
        )
    return (
        CommunicationItem(
            "before",
            "engineering team, on-call",
            f"Zero-downtime migration{ref}: {title}. About {mins} min of database "
            f"work; no downtime expected. {rollback}",
        ),
        *deploy,
        *swap,
        CommunicationItem(
            "after",
            "engineering team, stakeholders",
            f"{title}: done, validation report attached; {done}.",
        ),
        CommunicationItem(
            "on rollback",
            "engineering team, on-call",
            "Rolled back at step <id>: why, data verified intact, next attempt.",
        ),
    )
