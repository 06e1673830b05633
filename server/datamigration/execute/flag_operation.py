"""The runner of ``flag`` operations: a rollout step of the flags engine (a flagd file).

Why the executor writes a gate file: going up, the flags engine checks its own gate, the
validation rules that describe the table now; they are written to a rules file under
`.datamigration/runs/` so the flag's metadata names the check that passed.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from datamigration.errors import UserInputError
from datamigration.execute.operations import OperationRunner, RunContext, runs
from datamigration.plan.model import Operation, Step
from datamigration.safety import flags
from datamigration.safety.flag_gates import Gate
from datamigration.workspace.root import Workspace


@runs("flag")
class FlagRunner(OperationRunner):
    """Set a flag's percentage (0 % is the rollback) or state."""

    def run(self, ctx: RunContext, step: Step, op: Operation) -> dict[str, Any]:
        key = op.params.get("flag") or op.params.get("key")
        if not key:
            raise UserInputError(f"flag operation {op.id} names no flag", hint="Re-plan the step.")
        flags_file = op.params.get("flags_file")
        ws = flags_workspace(ctx.workspace, flags_file)
        pct = op.params.get("percentage", op.params.get("percent"))
        exists = key in flags.load_document(flags.flags_path(ws))["flags"]
        if op.params.get("action") == "rollback" or (pct is not None and float(pct) <= 0):
            if not exists:
                return {"flag": key, "note": "the flag does not exist: nothing to roll back"}
            return {"flag": flags.apply_percent(ctx.workspace, key, 0, flags_file=flags_file)}
        if pct is None:
            return {"flag": flags.set_flag(ws, key, state=op.params.get("state"))}
        if not exists:  # created here so it carries the step's description
            flags.set_flag(ws, key, description=op.description)
        gate = _gate(ctx, step)
        out = flags.apply_percent(ctx.workspace, key, float(pct), flags_file=flags_file,
                                  gate=gate, ungated=gate is None)  # fmt: skip
        return {"flag": {k: v for k, v in out.items() if k != "definition"}}

    def reverse(self, ctx: RunContext, step: Step, op: Operation) -> dict[str, Any]:
        return self.run(ctx, step, op)


def _gate(ctx: RunContext, step: Step) -> Gate | None:
    """The rules the flags engine checks before it raises the percentage, as a rules file."""
    rules = [r for r in (step.validation or ctx.rules_before(step)) if "type" in r]
    if not rules:
        return None
    path = ctx.workspace.state_dir / "runs" / f"{ctx.plan.id}.{step.id}.gate.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"name": f"{ctx.plan.id}-{step.id}-gate",
                                "rules": rules}), encoding="utf-8")  # fmt: skip
    return Gate(rules=ctx.workspace.relative(path), source=ctx.url, target=ctx.url)


def flags_workspace(workspace: Workspace, flags_file: str | None) -> Workspace:
    """The workspace as the flags engine sees it with the plan's `flags_file` (the plan
    names the application's flag file; without one, datamigration.toml's `[flags] path`)."""
    if not flags_file:
        return workspace
    config = dict(getattr(workspace, "config", None) or {})
    config["flags"] = {**(config.get("flags") or {}), "path": flags_file}
    return dataclasses.replace(workspace, config=config)
