"""Every DROP in a plan's forward steps is either owned by the plan or marked destructive.

Why: a step's `destructive` flag is what makes the executor hold it behind a passing validation
and ask for confirmation naming it as destructive. The flag used to be set only by the builders,
so a DROP that reached a statement any other way (a spec expression before they were parsed, a
raw_sql spec) ran as an ordinary step. This audit reads the statements themselves: a DROP of a
table, view, index, trigger, function, column or constraint is allowed in a non-destructive step
only when the same step creates that object again (the "drop the invalid leftover, then create"
idiom, a table rebuild's swap) or the object is one of the planner's own helpers (``dm_*``
triggers and functions, ``*__dm_new`` / ``*_dm_new`` copies). Anything else marks the operation and its step
destructive, with the gates that go with it, and the plan says why.
"""

from __future__ import annotations

import re
from dataclasses import replace

from datamigration.plan.model import Operation, Step

_STRING = re.compile(r"'(?:[^']|'')*'")
_NAME = r"""((?:[`"][^`"]+[`"]|[\w$]+)(?:\.(?:[`"][^`"]+[`"]|[\w$]+))?)"""
_DROP = re.compile(
    r"\bDROP\s+(TABLE|VIEW|MATERIALIZED\s+VIEW|INDEX|TRIGGER|FUNCTION|PROCEDURE|COLUMN|"
    r"CONSTRAINT|SEQUENCE|SCHEMA|DATABASE|TYPE)?\s*(?:CONCURRENTLY\s+)?(?:IF\s+EXISTS\s+)?" + _NAME,
    re.IGNORECASE,
)
_CREATE = re.compile(
    r"\b(?:CREATE\s+(?:OR\s+REPLACE\s+)?(?:UNIQUE\s+)?(?:TABLE|VIEW|INDEX|TRIGGER|FUNCTION)"
    r"\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?|ADD\s+CONSTRAINT\s+|RENAME\s+TO\s+|"
    r"ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?)" + _NAME,
    re.IGNORECASE,
)


def _bare(name: str) -> str:
    return name.split(".")[-1].strip('`"').lower()


def drops(statement: str) -> list[tuple[str, str]]:
    """(kind, name) of every DROP in `statement` (string literals ignored)."""
    text = _STRING.sub("''", statement)
    return [((k or "column").upper(), _bare(n)) for k, n in _DROP.findall(text)]


def _created(step: Step) -> set[str]:
    text = " ".join(_STRING.sub("''", s) for o in step.operations for s in o.statements)
    return {_bare(n) for n in _CREATE.findall(text)}


def _helper(name: str) -> bool:
    return name.startswith("dm_") or "_dm_" in name


def unowned_drops(step: Step, op: Operation) -> list[str]:
    if op.kind not in ("sql", "backfill") or op.destructive:
        return []
    made = _created(step)
    return [
        f"{kind} {name}"
        for s in op.statements
        for kind, name in drops(s)
        if name not in made and not _helper(name)
    ]


def audit(steps: list[Step]) -> tuple[list[Step], list[str]]:
    """The steps with every unowned DROP's operation and step marked destructive, and one
    warning per step so marked."""
    out: list[Step] = []
    warnings: list[str] = []
    for s in steps:
        found = {o.id or o.description: unowned_drops(s, o) for o in s.operations}
        if not any(found.values()):
            out.append(s)
            continue
        ops = tuple(
            replace(o, destructive=True) if found[o.id or o.description] else o
            for o in s.operations
        )
        gates = tuple(dict.fromkeys(("validation_passed", *s.gates, "confirmation")))
        out.append(replace(s, operations=ops, destructive=True, requires_confirmation=True,
                           gates=gates))  # fmt: skip
        what = "; ".join(x for v in found.values() for x in v)
        warnings.append(
            f"step {s.id or s.title} drops {what}: marked destructive (runs only after "
            "validation passed and on a confirmation that names it destructive)."
        )
    return out, warnings
