"""The post-migration rules of a plan: the rules that describe the final schema.

Kept apart from the planner because they are the one part of a plan that reasons about what
the schema looks like after every step ran (renamed and dropped columns, dropped copies)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from datamigration.db.model import Schema
from datamigration.plan import shape
from datamigration.plan.model import ChangeSpec
from datamigration.plan.ops_base import name_of
from datamigration.plan.toolkit import unique_rule


def gone_by_spec(spec: ChangeSpec) -> dict[str, set[str]]:
    """table -> columns that no longer exist once the whole plan ran, read from the spec."""
    table = spec.table or ""
    keep = bool(spec.get("keep_old"))
    if spec.kind == "rename_column" and not keep:
        return {table: {spec.get("column")}}
    if spec.kind == "change_type":
        col = spec.get("column")
        return {table: {name_of(col, "new")} | (set() if keep else {name_of(col, "old")})}
    if spec.kind == "drop_column":
        return {table: {spec.get("column")}}
    if spec.kind == "split_table" and not keep:
        return {table: set(spec.get("columns"))}
    return {}


def key_rules(
    spec: ChangeSpec, schema: Schema, tables: Sequence[str], final: Mapping[str, Sequence[str]]
) -> list[dict[str, Any]]:
    """Post-migration rules when nothing else gave any (no base rules: the table's rules could
    not be generated, or the caller passed none): each touched table's primary key is unique,
    under its final name. Why: the executor's gates (validation_passed, destructive steps) run
    the rules before the step, and a gate with no rule at all refuses to let the step run."""
    out: list[dict[str, Any]] = []
    for name in dict.fromkeys(tables):
        t = schema.table(name)
        if t is None or not t.primary_key:
            continue
        now = spec.get("new_name") if spec.kind == "rename_table" and name == spec.table else name
        cols = list(t.primary_key.columns)
        if now in final and set(cols) <= set(final[now]):
            out.append(unique_rule(f"post-{now}-pk-unique", now, cols))
    return out


def post_validation(
    spec: ChangeSpec,
    step_rules: list[dict[str, Any]],
    base: Sequence[Mapping[str, Any]],
    *,
    final: Mapping[str, Sequence[str]] | None = None,
    final_rules: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """The rules that describe the final schema: the table's own rules (rules-from-schema)
    moved to the target shape, the rules the builder wrote for it, and those of the steps'
    rules that still apply. A rule naming a column that is gone by then (the old column of a
    rename, the shadow column of a type change) is left out: it could not run.

    `final` (table -> columns after every step) catches what the spec alone does not say."""
    renamed: dict[str, str] = {}
    if spec.kind == "rename_column":
        renamed[spec.get("column")] = spec.get("new_name")
    gone = gone_by_spec(spec)
    known = {t: set(cols) | gone.get(t, set()) for t, cols in (final or {}).items()}
    for t, cols in gone.items():
        known.setdefault(t, set()).update(cols)

    def fits(rule: Mapping[str, Any]) -> bool:
        tables = (rule.get("table"), rule.get("target_table"))
        if final is not None and any(t and t not in final for t in tables):
            return False  # a table the plan dropped (a rebuild's copy): the rule cannot run
        for t, names in shape.named_columns(rule, known).items():
            if names & gone.get(t, set()):
                return False
        return final is None or not shape.missing(rule, dict(final), known)

    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for rule in base:
        r = {k: v for k, v in rule.items() if k != "on"}
        if spec.kind == "rename_table" and r.get("table") == spec.table:
            r["table"] = spec.get("new_name")
        if "columns" in r:
            cols = [renamed.get(c, c) for c in r["columns"]]
            cols = [c for c in cols if c not in gone.get(str(r.get("table")), set())]
            if not cols:
                continue
            r["columns"] = cols
        if not fits(r):
            continue
        if r.get("id"):
            r["id"] = "post-" + str(r["id"])
        out.append(r)
        seen.add(r.get("id", ""))
    for rule in [*final_rules, *step_rules]:
        rid = "post-" + str(rule.get("id", rule.get("type")))
        if rid not in seen and fits(rule):
            seen.add(rid)
            out.append({**rule, "id": rid})
    return out
