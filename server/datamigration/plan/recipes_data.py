"""Recipes that write data or run the user's own SQL: a batched backfill and raw SQL.

Why together: neither changes the schema by a recipe of ours; both run what the spec states,
batched or split into single statements, with the reverse the spec gives.
"""

from __future__ import annotations

import re

from datamigration.lint.split import split_statements
from datamigration.plan.toolkit import (
    Ctx,
    column_of,
    recipe,
    step,
    table_of,
)


@recipe("backfill")
def build_backfill(c: Ctx) -> None:
    t = table_of(c.schema, c.spec.table or "")
    sets: dict[str, str] = dict(c.spec.get("set"))
    d = c.d
    for col in sets:
        column_of(t, col)
    assign = ", ".join(f"{d.q(k)} = {v}" for k, v in sets.items())
    todo = " OR ".join(d.distinct(d.q(k), f"({v})") for k, v in sets.items())
    if c.spec.get("where"):
        todo = f"({c.spec.get('where')}) AND ({todo})"
    rereads = [k for k, v in sets.items() if re.search(rf"\b{re.escape(k)}\b", v)]
    if rereads:
        c.built.warnings.append(
            f"The backfill of {', '.join(rereads)} reads the value it replaces: a row once done "
            "no longer matches, so it is never skipped as already right. The executor's "
            "checkpoint keeps each row to one pass; running the backfill again from the start "
            "(another plan) would apply it twice."
        )
    c.built.tables.append(t.name)
    c.built.steps.append(
        step(
            "migrate",
            f"Backfill {t.name}",
            f"Set {', '.join(sets)} in keyset batches of {c.batch:,}; rows "
            "already right are skipped, so a re-run is harmless. The previous values are not "
            "kept, so no rollback can restore them: a point of no return (restore from the "
            "verified backup, or plan a backfill that sets them back).",
            [c.backfill(t, assign, todo, f"backfill {t.name}")],
            reversible=False,
        )
    )


@recipe("raw_sql")
def build_raw_sql(c: Ctx) -> None:
    stmts, _ = split_statements(c.spec.get("sql"), c.d.lint_dialect)
    texts = [s.text.strip().rstrip(";") for s in stmts]
    rev, _ = split_statements(c.spec.get("reverse_sql") or "", c.d.lint_dialect)
    reverse = (
        [c.d.op("reverse (as given)", [s.text.strip().rstrip(";") for s in rev])] if rev else []
    )
    concurrent = any("concurrently" in s.lower() for s in texts)
    transactional = c.spec.get("transactional", not concurrent)
    ops = (
        [c.d.op("raw SQL (as given)", texts, reverse=reverse)]
        if transactional
        else [
            c.d.op(f"raw SQL {i + 1}", [s], transactional=False, reverse=reverse if i == 0 else [])
            for i, s in enumerate(texts)
        ]
    )
    if not reverse:
        c.built.warnings.append("raw_sql without reverse_sql: the step cannot be rolled back.")
    if c.spec.table:
        c.built.tables.append(c.spec.table)
    c.built.steps.append(
        step(
            "migrate",
            c.spec.title or "Raw SQL",
            "Statements as written, linted below.",
            ops,
            reversible=bool(reverse),
        )
    )
