"""What a run tells the team: bus messages, the story's migration phase, and the review gate.

Every phase change posts a `status` message on the bus and records the plan's phase on the story
in status.json (moving a ready story to in-progress when the run starts). When the plan is done,
the post-migration validation report is written under docs/validation/, recorded on the story
through `record_validation`, and the story is asked to move to in-review. The status engine
applies the harness rule, so a failed validation leaves the story where it is.

Coordination problems (no status.json, no such story) never stop a migration: they come back
as notes in the result instead.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from datamigration.coordination import bus, status
from datamigration.coordination.vocabulary import canonical_status
from datamigration.errors import DataMigrationError
from datamigration.plan.model import Plan, Step
from datamigration.safety import alerts
from datamigration.validate.report import record_on_story, write_report
from datamigration.workspace.root import Workspace


def _post(workspace: Workspace, plan: Plan, type_: str, text: str, **extra: Any) -> list[str]:
    if type_ == "warning":  # a warning is an alert: the bus and the webhook, if one is set
        return alerts.warn(workspace, text, story=plan.story, extra=extra)
    try:
        bus.post(workspace, type_, text, story=plan.story, extra=extra or None)
    except DataMigrationError as exc:
        return [f"bus: {exc.message}"]
    return []


def _story_fields(workspace: Workspace, plan: Plan, fields: dict[str, Any], *,
                  start: bool = False) -> list[str]:  # fmt: skip
    if not plan.story:
        return []

    try:
        story = status.get_story(workspace, plan.story)
        current = canonical_status(story.get("status"))
        target = "in-progress" if start and current in ("ready", "blocked") else None
        status.update_story(workspace, plan.story, status=target, fields=fields,
                            note=f"migration {plan.id} started" if target else None)  # fmt: skip
    except DataMigrationError as exc:
        return [f"status.json: {exc.message}"]
    return []


def phase_changed(workspace: Workspace, plan: Plan, phase: str, state: str) -> list[str]:
    """A phase started or the plan completed: bus `status` message + the story's fields."""
    text = (
        f"Migration {plan.id}: phase {phase} {state}" if phase else f"Migration {plan.id} {state}"
    )
    notes = _post(workspace, plan, "status", text, status=f"{phase}:{state}")
    notes += _story_fields(
        workspace,
        plan,
        {"migration": {"plan": plan.id, "hash": plan.hash[:12], "phase": phase, "state": state}},
        start=state == "started",
    )
    return notes


def step_failed(workspace: Workspace, plan: Plan, step: Step, detail: str) -> list[str]:
    return _post(
        workspace,
        plan,
        "warning",
        f"Migration {plan.id}: step {step.id} ({step.title}) failed: {detail[:500]}. "
        "The run stopped; it resumes with the same command, or roll the step back.",
    )


def backup_checked(workspace: Workspace, plan: Plan, gate: dict[str, Any]) -> list[str]:
    """Steps that can lose data are about to run: the verified backup that covers them goes on
    the story; without one, the override goes on the story and on the bus as a `warning` (who
    reads the story later sees it was a choice, and why)."""
    at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if gate.get("backup"):
        b = gate["backup"]
        return _story_fields(workspace, plan, {"backup": {
            "id": b["id"], "verified_at": b["verified_at"], "plan": plan.id,
            "steps": gate["steps"], "at": at}})  # fmt: skip
    if not gate.get("without_backup"):
        return []  # the check is off ([backup] required = false)
    reason, steps = gate["without_backup"], ", ".join(gate["steps"])
    notes = _post(workspace, plan, "warning",
                  f"Migration {plan.id}: step(s) {steps} run WITHOUT a verified backup "
                  f"(override; reason: {reason[:500]})", backup_override=reason)  # fmt: skip
    notes += _story_fields(workspace, plan, {"backup_override": {
        "plan": plan.id, "hash": plan.hash[:12], "steps": gate["steps"], "reason": reason,
        "at": at}})  # fmt: skip
    return notes


def rollback_started(workspace: Workspace, plan: Plan, step: Step) -> list[str]:
    return _post(
        workspace,
        plan,
        "status",
        f"Migration {plan.id}: rolling back step {step.id} ({step.title})",
    )


def record_and_review(workspace: Workspace, plan: Plan, run: Any) -> dict[str, Any]:
    """Write the validation report, record it on the story, and ask for in-review."""

    json_path, md_path = write_report(workspace, run, plan.story)
    out: dict[str, Any] = {
        "ran": True,
        "passed": run.passed,
        "summary": run.summary,
        "report_json": workspace.relative(json_path),
        "report_markdown": workspace.relative(md_path),
        "story": plan.story,
        "test_status": None,
        "story_status": None,
        "notes": [],
    }
    if not plan.story:
        return out

    try:
        out["test_status"] = record_on_story(workspace, plan.story, run, json_path)
        change = status.update_story(
            workspace,
            plan.story,
            status="in-review",
            note=f"migration {plan.id} completed and validated",
        )
        out["story_status"] = change.status
    except DataMigrationError as exc:
        # The harness rule (or a missing story) keeps the story where it is; say why.
        out["notes"].append(f"{type(exc).__name__}: {exc.message}")
        try:
            out["story_status"] = status.get_story(workspace, plan.story).get("status")
        except DataMigrationError:
            pass
    return out


def trigger_fired(workspace: Workspace, plan: Plan, step: Step, firing: dict[str, Any],
                  done: str) -> list[str]:  # fmt: skip
    """A rollback trigger stopped a step: a bus `warning` with the numbers, the story blocked."""
    text = (f"Migration {plan.id}: rollback trigger {firing['trigger']} fired during step "
            f"{step.id} ({step.title}): {firing['reason']}; {done}.")  # fmt: skip
    notes = _post(workspace, plan, "warning", text, trigger=firing)
    if not plan.story:
        return notes
    try:
        status.update_story(workspace, plan.story, status="blocked",
                            note=f"migration {plan.id}: {firing['trigger']} trigger fired")  # fmt: skip
    except DataMigrationError as exc:
        notes.append(f"status.json: {exc.message}")
    return notes


def gate_refused(workspace: Workspace, plan: Plan, step: Step | None, detail: str) -> list[str]:
    """A gate held a step back (validation, health, a maintenance window, the backup check):
    a bus `warning` (and the webhook) saying which and why."""
    what = f"step {step.id} ({step.title})" if step is not None else "the run"
    return _post(workspace, plan, "warning",
                 f"Migration {plan.id}: {what} refused by its gate: {detail[:500]}",
                 gate="refused")  # fmt: skip
