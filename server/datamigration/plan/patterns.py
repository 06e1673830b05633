"""Which zero-downtime pattern a change needs, and why — or the override, checked.

* expand-contract: an in-place schema change in one database. New beside old, both kept in sync,
  backfill, switch the application, then remove the old.
* dual write with change data capture: moving data between systems (another database, SQL to
  MongoDB): `move_table`. Capture, snapshot, catch-up, shadow reads, cutover with a brief write
  pause and a way back, then the source is retired when the team decides.
* shadow traffic: when reads must be proven equal before the switch (`verify_reads`): the new
  path is read alongside the old one and compared.
* feature flags: when application behaviour is rolled out gradually (`rollout`): the switch is a
  flag at 1% → 10% → 100% with a gate between steps and instant rollback by flipping it back.
"""

from __future__ import annotations

from dataclasses import dataclass

from datamigration.errors import UserInputError
from datamigration.plan.model import PATTERNS, ChangeSpec
from datamigration.plan.toolkit import NotYetSupportedError

REASONS = {
    "expand_contract": "an in-place change to {what} in one database: the new shape is added "
    "beside the old one, kept in sync by triggers while both application versions run, "
    "backfilled in batches, switched, and only then is the old shape removed — no step holds a "
    "lock longer than the lock timeout",
    "shadow_traffic": "the spec asks for reads to be proven equal (verify_reads) before the "
    "switch: the expand-contract steps run, then the new path is read in the shadow of the old "
    "one and compared before any user depends on it",
    "feature_flags": "the spec rolls application behaviour out gradually (rollout): the schema "
    "work is expand-contract, and the switch is a feature flag raised step by step with a gate "
    "between steps and an instant rollback by flipping it back",
    "dual_write_cdc": "the data moves between systems: change data capture, started before the "
    "snapshot copy, carries every write to the target until it is proven equal (shadow reads, "
    "checksum diff); the cutover pauses writes briefly and flips the flag, and the target's new "
    "writes flow back to the source so the way back loses nothing",
}


@dataclass(frozen=True)
class Choice:
    pattern: str
    reason: str
    overridden: bool
    alternatives: tuple[dict[str, str], ...]


def choose(spec: ChangeSpec, override: str | None = None, what: str = "") -> Choice:
    """The pattern for `spec` (or the override), with the reason and the ones not chosen."""
    if spec.kind == "move_table":
        auto = "dual_write_cdc"
    elif spec.get("rollout"):
        auto = "feature_flags"
    elif spec.get("verify_reads"):
        auto = "shadow_traffic"
    else:
        auto = "expand_contract"
    want = override or spec.pattern
    if want and want not in PATTERNS:
        raise UserInputError(
            f"unknown pattern {want!r}", hint=f"Use one of: {', '.join(PATTERNS)}."
        )
    if (want == "dual_write_cdc") != (auto == "dual_write_cdc") and want:
        if auto == "dual_write_cdc":
            raise UserInputError(
                f"a move between databases is planned with dual_write_cdc, not {want}",
                hint="Drop the pattern override.",
            )
        raise NotYetSupportedError(
            "the dual_write_cdc pattern is for moves between systems: write a move_table spec "
            "(its table and target) to move a table to another database",
            hint="Use expand_contract, shadow_traffic or feature_flags for in-place changes.",
        )
    if want == "feature_flags" and not spec.get("rollout"):
        raise UserInputError(
            "the feature_flags pattern needs a rollout in the spec",
            hint='Add "rollout": {"flag": "use-email-address", "steps": [1, 10, 100]}.',
        )
    pattern = want or auto
    reason = REASONS[pattern].format(what=what or spec.table or "the schema")
    if want and want != auto:
        reason = f"overridden (the planner would choose {auto}): " + reason
    alts = tuple({"pattern": p, "why_not": _why_not(p, spec)} for p in PATTERNS if p != pattern)
    return Choice(pattern, reason, bool(want and want != auto), alts)


def _why_not(p: str, spec: ChangeSpec) -> str:
    if spec.kind == "move_table":
        return "the table moves to another database; the in-place patterns do not apply"
    if p == "dual_write_cdc":
        return "the data stays in the same database; nothing moves between systems"
    if p == "shadow_traffic":
        return "no read path needs proving equal (set verify_reads to ask for it)"
    if p == "feature_flags":
        return "no application behaviour to roll out gradually (add rollout to ask for it)"
    return "the chosen pattern already runs the expand-contract steps for the schema work"
