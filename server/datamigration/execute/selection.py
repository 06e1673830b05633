"""Which steps a call runs or rolls back, and what confirming that call means.

A step runs only after every step before it is done, never twice; a rollback takes the latest
applied step (or a named one with nothing applied after it, or all of them in reverse), and never
a step that dropped data. The `Action` built here is what the user confirms: this plan version,
these steps, with the destructive ones and the manual deploys spelled out.
"""

from __future__ import annotations

from dataclasses import dataclass

from datamigration.confirmation import Action
from datamigration.errors import ConflictError, NotFoundError, UserInputError
from datamigration.execute.state import StepState
from datamigration.plan.model import Plan, Step

APPLIED = ("running", "done", "failed", "rolling_back")


@dataclass(frozen=True)
class Selection:
    """The steps a call will run (or roll back), in order, and what confirming it means."""

    plan: Plan
    mode: str  # execute / rollback
    steps: tuple[Step, ...]
    scope: str
    states: dict[str, StepState]

    @property
    def destructive(self) -> tuple[str, ...]:
        return tuple(
            s.id for s in self.steps if s.destructive or any(o.destructive for o in s.operations)
        )

    @property
    def mutating(self) -> bool:
        if self.mode == "rollback":
            return bool(self.steps)
        # a manual step (deploy the application) is the operator's word that it happened
        return any(
            s.mutating
            or s.requires_confirmation
            or "confirmation" in s.gates
            or any(o.kind == "manual" for o in s.operations)
            for s in self.steps
        )

    def action(self) -> Action:
        """What the user confirms: this plan version, these steps, these statements."""
        ids = [s.id for s in self.steps]
        verb = "Roll back" if self.mode == "rollback" else "Execute"
        summary = f"{verb} {len(ids)} step(s) of plan {self.plan.id} on {self.plan.database}: "
        summary += ", ".join(f"{s.id} {s.title}" for s in self.steps)
        if self.mode == "execute" and self.destructive:
            summary += (
                f". DESTRUCTIVE (drops the old, not undoable without a backup): "
                f"{', '.join(self.destructive)}"
            )
        manual = [
            f"{s.id}: {o.params.get('instructions', o.description)}"
            for s in self.steps
            for o in s.operations
            if o.kind == "manual"
        ]
        if self.mode == "execute" and manual:
            summary += ". You confirm these are done: " + "; ".join(manual)
        return Action(
            kind=f"{self.mode}_plan",
            summary=summary,
            payload={
                "plan": self.plan.id,
                "hash": self.plan.hash,
                "steps": ids,
                "destructive": list(self.destructive) if self.mode == "execute" else [],
            },
        )


def applied(states: dict[str, StepState], step_id: str) -> bool:
    st = states.get(step_id)
    return st is not None and st.status in APPLIED


def done(states: dict[str, StepState], step_id: str) -> bool:
    st = states.get(step_id)
    return st is not None and st.status == "done"


def select_steps(
    plan: Plan,
    states: dict[str, StepState],
    *,
    step: str | None = None,
    phase: str | None = None,
    all_steps: bool = False,
) -> Selection:
    """The steps to execute for `--step S | --phase P | --all` (default: the next step)."""
    if sum(bool(x) for x in (step, phase, all_steps)) > 1:
        raise UserInputError(
            "choose one of --step, --phase or --all", hint="They exclude each other."
        )
    order = list(plan.steps)
    pending = [s for s in order if not done(states, s.id)]
    if step:
        target = plan.step(step)
        if target is None:
            raise NotFoundError(
                f"plan {plan.id} has no step {step!r}",
                hint="Steps: " + ", ".join(f"{s.id} ({s.title})" for s in order),
            )
        chosen = [] if done(states, step) else [target]
        scope = f"step {step}"
        first = target
    elif phase:
        p = plan.phase(phase)
        if p is None:
            raise NotFoundError(
                f"plan {plan.id} has no phase {phase!r}",
                hint="Phases: " + ", ".join(x.name for x in plan.phases),
            )
        chosen = [s for s in p.steps if not done(states, s.id)]
        scope = f"phase {phase}"
        first = p.steps[0] if p.steps else None
    elif all_steps:
        chosen, scope, first = pending, "all", None
    else:
        chosen = pending[:1]
        scope, first = "next step", None
    if first is not None:
        before = [s for s in order[: order.index(first)] if not done(states, s.id)]
        if before:
            raise ConflictError(
                f"{scope} of plan {plan.id} cannot run yet: earlier steps are not done: "
                + ", ".join(s.id for s in before),
                hint=f"Run them first (datamigration execute {plan.id} --hash ... --step "
                f"{before[0].id}), or run --all.",
            )
    return Selection(plan, "execute", tuple(chosen), scope, states)


def select_rollback(
    plan: Plan, states: dict[str, StepState], *, step: str | None = None, all_steps: bool = False
) -> Selection:
    """The steps to roll back: the current (latest applied) step, one named step, or all."""
    on = [s for s in plan.steps if applied(states, s.id)]
    if step:
        target = plan.step(step)
        if target is None:
            raise NotFoundError(f"plan {plan.id} has no step {step!r}")
        if target not in on:
            raise ConflictError(
                f"step {step} of plan {plan.id} is not applied (nothing to roll back)",
                hint="datamigration run-status shows what ran.",
            )
        later = [s.id for s in on[on.index(target) + 1 :]]
        if later:
            raise ConflictError(
                f"step {step} cannot be rolled back while later steps are applied: {', '.join(later)}",
                hint="Roll back the latest step first, or use --all (reverse order).",
            )
        chosen, scope = [target], f"step {step}"
    elif all_steps:
        chosen, scope = list(reversed(on)), "all"
    else:
        chosen, scope = on[-1:], "current step"
    for s in chosen:
        if not s.reversible and done(states, s.id):
            raise ConflictError(
                f"step {s.id} ({s.title}) is a point of no return: it dropped or overwrote data and "
                "cannot be rolled back",
                hint="Restore the dropped data from the verified backup taken before the step; "
                "earlier steps can be rolled back after that.",
                step=s.id,
            )
    return Selection(plan, "rollback", tuple(chosen), scope, states)
