"""Plans stored by id and content hash, so what executes is exactly what was reviewed.

A plan is written twice: `.datamigration/plans/<id>.json` (what the executor loads) and
`<docs>/migrations/<id>/plan.json` (what people review in a pull request). Loading asks for both
the id and the hash; the file's content must hash to that value, so an edited plan (or a
re-planned one with different statements) is refused instead of silently executed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from datamigration.atomic import atomic_write
from datamigration.errors import ConflictError, FileFormatError, NotFoundError, UserInputError
from datamigration.plan.model import Plan, plan_hash
from datamigration.workspace.root import Workspace

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class PlanHashMismatchError(ConflictError):
    """The stored plan does not hash to the value the caller reviewed."""


class UnknownPlanHashError(UserInputError):
    """No version of the plan ever had the hash given: a typo, not a changed plan."""


_HEX = re.compile(r"^[0-9a-f]+$")


def _history_path(workspace: Workspace, plan_id: str) -> Path:
    return plans_dir(workspace) / f"{plan_id}.hashes"


def hash_history(workspace: Workspace, plan_id: str) -> list[str]:
    """Every hash the stored plan `plan_id` has had (oldest first), so a hash of an earlier
    version (a real change) can be told from a hash no version had (a typo)."""
    try:
        lines = _history_path(workspace, plan_id).read_text(encoding="utf-8").split()
    except OSError:
        return []
    return [h for h in lines if _HEX.match(h)]


def plans_dir(workspace: Workspace) -> Path:
    return workspace.state_dir / "plans"


def docs_plan_dir(workspace: Workspace, plan_id: str) -> Path:
    return workspace.docs_dir / "migrations" / plan_id


def check_id(plan_id: str) -> str:
    if not _ID.match(plan_id or ""):
        raise UserInputError(
            f"not a plan id: {plan_id!r}",
            hint="Plan ids look like 20250101-rename-users-email; list them with "
            "`datamigration plans`.",
        )
    return plan_id


def plan_json_text(plan: Plan) -> str:
    return json.dumps(plan.to_dict(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def save_plan(workspace: Workspace, plan: Plan) -> Path:
    """Write the state copy of a plan (its hash must already be set and correct)."""
    check_id(plan.id)
    if plan.hash != plan_hash(plan):
        raise ConflictError(
            f"plan {plan.id} carries hash {plan.hash[:12] or '(none)'} but its content hashes to "
            f"{plan_hash(plan)[:12]}",
            hint="Set the hash with dataclasses.replace(plan, hash=plan.compute_hash()).",
        )
    path = plans_dir(workspace) / f"{plan.id}.json"
    history = hash_history(workspace, plan.id)
    if path.is_file() and not history:  # a plan stored before the history existed
        previous = read_plan_file(path).get("hash")
        history = [str(previous)] if previous else []
    atomic_write(path, plan_json_text(plan), new_mode=0o666)
    if plan.hash not in history:
        history_text = "\n".join([*history, plan.hash]) + "\n"
        atomic_write(_history_path(workspace, plan.id), history_text, new_mode=0o666)
    return path


def read_plan_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFoundError(
            f"no plan file at {path}", hint="Create the plan first: datamigration plan SPEC.json"
        ) from None
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise FileFormatError(
            f"{path.name}: not valid JSON: {exc}",
            hint="The plan file was edited by hand; re-create it with datamigration plan.",
            path=str(path),
            line=getattr(exc, "lineno", None),
        ) from None
    if not isinstance(data, dict):
        raise FileFormatError(f"{path.name}: a plan is a JSON object", path=str(path))
    return data


def load_plan(workspace: Workspace, plan_id: str, expected_hash: str | None) -> Plan:
    """The stored plan `plan_id`, refused unless its content hashes to `expected_hash`.

    `expected_hash` may be the full sha256 or a prefix of at least 12 characters (what plan.md
    shows). None is refused: a caller must say which reviewed version it means.
    """
    check_id(plan_id)
    data = read_plan_file(plans_dir(workspace) / f"{plan_id}.json")
    actual = plan_hash(data)
    if not expected_hash:
        raise UserInputError(
            f"plan {plan_id}: the plan hash is required",
            hint=f"Pass the hash shown with the plan (currently {actual[:12]}).",
        )
    want = expected_hash.strip().lower()
    if len(want) < 12 or len(want) > 64 or not _HEX.match(want):
        raise UserInputError(
            f"plan {plan_id}: {expected_hash.strip()[:70]!r} is not a plan hash (12 to 64 "
            "hexadecimal characters)",
            hint=f"Pass the plan_hash shown with the plan (currently {actual[:12]}).",
            plan_id=plan_id,
        )
    known = [*hash_history(workspace, plan_id), str(data.get("hash") or ""), actual]
    if not any(h.startswith(want) for h in known if h):
        raise UnknownPlanHashError(
            f"plan {plan_id} never had the hash {want[:12]}: it is not the hash of this plan or "
            f"of an earlier version of it (its current hash is {actual[:12]})",
            hint="Check the hash for a typo: copy plan_hash from the plan_migration answer or "
            f"from docs/migrations/{plan_id}/plan.md.",
            plan_id=plan_id,
            expected=want,
            actual=actual,
        )
    if not actual.startswith(want):
        raise PlanHashMismatchError(
            f"plan {plan_id} does not match the reviewed hash {want[:12]} "
            f"(its content hashes to {actual[:12]})",
            hint="The plan changed after it was reviewed. Review the current plan.md and pass "
            "its hash, or re-create the plan.",
            plan_id=plan_id,
            expected=want,
            actual=actual,
        )
    if data.get("hash") and data["hash"] != actual:
        raise PlanHashMismatchError(
            f"plan {plan_id} was edited after it was written (stored hash "
            f"{str(data['hash'])[:12]}, content {actual[:12]})",
            hint="Re-create the plan with datamigration plan; do not edit plan files by hand.",
            plan_id=plan_id,
        )
    return Plan.from_dict(data)


def list_plans(workspace: Workspace) -> list[dict[str, Any]]:
    """Stored plans, newest first: id, hash, title, pattern, created_at."""
    out = []
    d = plans_dir(workspace)
    if not d.is_dir():
        return out
    for path in sorted(d.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            continue
        if not isinstance(data, dict):  # not a plan (an array, a string): not listed
            continue
        out.append(
            {
                "id": data.get("id", path.stem),
                "hash": data.get("hash", ""),
                "title": data.get("title", ""),
                "pattern": data.get("pattern", ""),
                "created_at": data.get("created_at", ""),
            }
        )
    return sorted(out, key=lambda p: p["created_at"], reverse=True)
