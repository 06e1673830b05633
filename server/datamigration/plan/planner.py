"""The planner: change spec + database → a complete, linted, hashed plan.

`build_plan` is pure (schema, sizes and rate in; Plan out) so golden tests run without a
database. `plan_migration` is the front door used by the CLI and the MCP tool: it parses the
spec, inspects the database, measures sizes and the backfill rate, builds the plan, lints it,
writes plan.json / plan.md / framework migration files and stores the plan by id and hash.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from datamigration.coordination.announce import plan_created
from datamigration.db import connect
from datamigration.db.dialect import find_dialect
from datamigration.db.model import Schema
from datamigration.errors import UserInputError
from datamigration.plan import (
    briefing,
    documents,
    drops,
    frameworks_out,
    kinds,
    post_rules,
    shape,
    store,
)
from datamigration.plan import estimate as est
from datamigration.plan.dialects import dialect_class, dialect_for
from datamigration.plan.expressions import check_spec
from datamigration.plan.linting import lint_plan
from datamigration.plan.model import (
    DEFAULT_LOCK_TIMEOUT_MS,
    DEFAULT_RETRIES,
    ChangeSpec,
    Estimates,
    Operation,
    Phase,
    Plan,
    Step,
)
from datamigration.plan.ops_base import Dialect, manual_op
from datamigration.plan.patterns import choose
from datamigration.plan.schemas import check
from datamigration.plan.spec import describe
from datamigration.plan.sqltext import quote, slug
from datamigration.plan.toolkit import (
    PREPARED_STATEMENTS,
    step,
)
from datamigration.redact import redact_url
from datamigration.safety.triggers import MONITORING, step_triggers
from datamigration.safety.windows import assumed_window
from datamigration.validate.generate import rules_from_schema

PHASE_TITLES = {
    "prepare": ("Prepare", "Checks before anything changes."),
    "expand": ("Expand", "Add the new shape beside the old one; nothing is removed."),
    "migrate": ("Migrate", "Copy existing data in batches and give the new shape its constraints."),
    "switch": ("Switch", "The application moves to the new shape; the old one still works."),
    "rollout": ("Roll out", "The feature flag is raised step by step with a gate between steps."),
    "contract": ("Contract", "Remove the old shape after validation passed and on confirmation."),
    "cleanup": ("Clean up", "Remove leftovers."),
    "snapshot": ("Snapshot", "Copy the table while its changes are captured."),
    "catch_up": ("Catch up", "Apply the changes made during the copy until the lag is small."),
    "shadow": ("Shadow", "Read both sides and compare before anyone depends on the target."),
    "cutover": ("Cutover", "Pause writes briefly, drain, prove equal, flip; the way back stays."),
    "decommission": ("Decommission", "Retire the source once the team decides (destructive)."),
}
ORDER = (
    "prepare",
    "expand",
    "migrate",
    "snapshot",
    "catch_up",
    "shadow",
    "switch",
    "cutover",
    "rollout",
    "contract",
    "decommission",
    "cleanup",
)


def current_rules(schema: Schema, steps: list[Step]) -> list[dict[str, Any]]:
    """The rules of `steps` (in order, each id once) that still hold after them: what a step
    added after them (a rollout, shadow reads) is validated with."""
    history = shape.shapes(schema, steps)
    known = shape.known_columns(history)
    out: dict[str, dict[str, Any]] = {}
    for s in steps:
        for r in s.validation:
            if not shape.missing(r, history[-1], known):
                out.setdefault(str(r.get("id") or len(out)), dict(r))
    return list(out.values())


def _with_lock_retries(op: Operation) -> Operation:
    """`retries` as the executor makes them: the operation's retries at the lock timeout plus
    the shorter rungs of the lock-timeout ladder (execute/retry.py), so the plan states the
    number of attempts a blocked statement really makes."""
    from datamigration.execute.retry import schedule

    if op.kind != "sql" or not op.lock_timeout_ms:
        return op
    retries = int(schedule(op.retries, op.lock_timeout_ms)["retries"])  # type: ignore[call-overload]
    return replace(op, retries=retries)


def _fit_reason(reason: str, what: str, steps: Sequence[Step], mongodb: bool) -> str:
    """The expand-contract reason, saying only what the steps do: an additive change (an index,
    a column) has no sync, no backfill, no switch and removes nothing, and its plan must not
    claim otherwise."""
    stmts = " ".join(x.upper() for s in steps for o in s.operations for x in o.statements)
    synced = "CREATE TRIGGER" in stmts or "CREATE OR REPLACE TRIGGER" in stmts
    synced = synced or (mongodb and any(s.phase == "expand" and s.operations and
                                         s.operations[0].kind == "manual" for s in steps))  # fmt: skip
    phases = {s.phase for s in steps}
    filled = any(o.kind == "backfill" or o.params.get("batch_size")
                 for s in steps for o in s.operations)  # fmt: skip
    if synced and filled and "switch" in phases and "contract" in phases:
        return reason  # the full recipe: the generic text is true
    parts = []
    if "expand" in phases:
        parts.append("the new shape is added" + (" beside the old one" if synced else ""))
    if synced:
        how = "by the application (MongoDB has no triggers)" if mongodb else "by triggers"
        parts.append(f"kept in sync {how} while both application versions run")
    if filled:
        parts.append("existing rows are filled in batches")
    if "switch" in phases:
        parts.append("the application is switched")
    if "contract" in phases:
        parts.append("then the old shape is removed")
    else:
        parts.append("nothing is removed")
    prefix = reason.split("an in-place change", 1)[0]
    return (
        f"{prefix}an in-place change to {what} in one database: "
        + ", ".join(parts)
        + " — no step holds a lock longer than the lock timeout"
    )


def _monitoring(step: Step, lock_ms: int) -> dict[str, Any]:
    """The plan-wide thresholds, plus what the step itself asks to watch (its `notes`)."""
    from datamigration.execute.retry import schedule

    out: dict[str, Any] = {**MONITORING, "lock_timeout_ms": lock_ms}
    if any(o.kind == "sql" and o.lock_timeout_ms for o in step.operations):
        # what a statement blocked by a held lock does before it gives up
        out["lock_retries"] = schedule(DEFAULT_RETRIES, lock_ms)
    own = dict(step.monitoring)
    if own.get("notes"):
        out["notes"] = list(own.pop("notes"))
    out.update(own)
    return out


def _number(steps: list[Step]) -> list[Step]:
    """Stable ids: s01, s02 ...; operations s01.1, reverses s01.1.r1."""

    def ids(op: Operation, oid: str) -> Operation:
        rev = tuple(ids(r, f"{oid}.r{j + 1}") for j, r in enumerate(op.reverse))
        return _with_lock_retries(replace(op, id=oid, reverse=rev))

    out = []
    for i, s in enumerate(steps, 1):
        sid = f"s{i:02d}"
        ops = tuple(ids(o, f"{sid}.{j + 1}") for j, o in enumerate(s.operations))
        rollback = tuple(
            replace(r, id=f"{sid}.rb{k + 1}")
            for k, r in enumerate(r2 for o in reversed(ops) for r2 in o.reverse)
        )
        out.append(replace(s, id=sid, operations=ops, rollback=rollback))
    return out


def _rollout_steps(spec: ChangeSpec, dialect: str, rules: list[dict[str, Any]]) -> list[Step]:
    ro = spec.get("rollout") or {}
    flag, steps = ro["flag"], ro.get("steps") or [1, 10, 100]
    out = []
    prev = 0.0
    for pct in steps:
        op = Operation(
            id="",
            kind="flag",
            dialect=dialect,
            description=f"{flag} on for {pct}% of traffic",
            params={"flag": flag, "percentage": pct, "flags_file": ro.get("flags_file")},
            reverse=(
                Operation(
                    id="",
                    kind="flag",
                    dialect=dialect,
                    description=f"{flag} back to {prev}%",
                    params={"flag": flag, "percentage": prev, "flags_file": ro.get("flags_file")},
                    lock_timeout_ms=None,
                ),
            ),
            lock_timeout_ms=None,
        )
        out.append(
            step(
                "rollout",
                f"Flag {flag} at {pct}%",
                "Raise the flag; hold while health and validation stay green.",
                [op],
                validation=rules,
                gates=("validation_passed", "health_ok", "confirmation"),
            )
        )
        prev = pct
    return out


#: the shadow step's gate: no mismatch over this many reads (or every row of a smaller table)
SHADOW_READS = 10_000


def _shadow_pairs(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Old path vs new path, from the checksum rules that prove a new column or table holds
    the old one's values: what the shadow step reads by key on both paths."""
    return [
        {k: r[k] for k in ("table", "target_table", "key", "columns", "field_map") if r.get(k)}
        for r in rules
        if r.get("type") == "checksum_diff" and r.get("target_table")
    ]


def _shadow_step(spec: ChangeSpec, dialect: str, rules: list[dict[str, Any]]) -> Step:
    pairs = _shadow_pairs(rules)
    if pairs and not dialect_class(dialect).documents:
        text = (
            f"Read a sample of {SHADOW_READS:,} keys through the old path and the new one and "
            "compare them value by value; the step fails on any mismatch (shadow reads)."
        )
        op = Operation(
            id="", kind="shadow_reads", dialect=dialect, description="shadow reads: old path "
            "vs new path, by key", mutating=False, lock_timeout_ms=None,
            params={"pairs": pairs, "sample": SHADOW_READS, "seed": 0, "max_mismatches": 0,
                    "min_reads": SHADOW_READS},
        )  # fmt: skip
        return step("switch", "Shadow reads: prove the new path equal", text, [op],
                    validation=rules, gates=("validation_passed", "confirmation"))  # fmt: skip
    text = (
        "Deploy the application with shadow reads: it reads through the old path and the "
        "new one, serves the old result and logs every difference. Proceed only when the "
        "comparison shows none and the validation rules pass."
    )
    return step(
        "switch",
        "Shadow reads: prove the new path equal",
        text,
        [manual_op("shadow reads", text, dialect=dialect)],
        validation=rules,
        gates=("validation_passed", "confirmation"),
    )


@dataclass(frozen=True)
class Measured:
    """What was measured on the database: row counts, bytes, the backfill rate."""

    rows: Mapping[str, int]
    sizes: Mapping[str, int]
    rate: float
    rate_source: str
    #: "table.column" -> NULL rows counted on the live database (set_not_null's pre-check)
    nulls: Mapping[str, int] = field(default_factory=dict)


def refuse_nulls_without_fill(spec: ChangeSpec, measured: Measured) -> None:
    """set_not_null without `fill` on a column that holds NULLs cannot succeed: the VALIDATE
    step would fail after the NOT VALID CHECK already rejects new NULL writes. Refused at
    planning, with the count, instead."""
    if spec.kind != "set_not_null" or spec.get("fill") is not None:
        return
    n = measured.nulls.get(f"{spec.table}.{spec.get('column')}", 0)
    if n > 0:
        raise UserInputError(
            f"{spec.table}.{spec.get('column')} has {n:,} NULL row(s): making it NOT NULL "
            "would fail when the check is validated; nothing was planned",
            hint='Add "fill" to the spec with the value for those rows (an expression, e.g. '
            '"fill": "\'unknown\'"), then call plan_migration again: the plan fills them '
            "in batches before the NOT NULL step.",
            null_rows=n,
        )


def count_nulls(backend: Any, schema: Schema, spec: ChangeSpec) -> dict[str, int]:
    """set_not_null's pre-check on the live database: how many rows hold NULL in the column
    (table and column are looked up in the schema and quoted, never pasted)."""
    known = find_dialect(schema.dialect)
    if spec.kind != "set_not_null" or known is None or not known.sql:
        return {}
    t = schema.table(spec.table or "")
    col = t.column(spec.get("column")) if t is not None else None
    if t is None or col is None:
        return {}  # the builder refuses with the names it knows

    sql = (
        f"SELECT count(*) FROM {quote(t.qualified_name, schema.dialect)} "
        f"WHERE {quote(col.name, schema.dialect)} IS NULL"
    )
    result = backend.query(sql, max_rows=1, timeout_ms=60_000)
    return {f"{t.name}.{col.name}": int(result.rows[0][0])}


def _ordered_steps(
    spec: ChangeSpec, schema: Schema, pattern: str, built: Any, d: Dialect
) -> list[Step]:
    """The recipe's steps in phase order, with the pattern's own steps put in. Why here: the
    rollout (feature flags) replaces the manual switch and must come before the contract; the
    shadow step must run before the switch, each with the rules true at that point."""
    steps = list(built.steps)
    if pattern == "feature_flags":
        steps = [s for s in steps if s.phase != "switch" or s.operations[0].kind != "manual"]
    steps.sort(key=lambda s: ORDER.index(s.phase))  # stable: keeps order within a phase
    if pattern == "feature_flags":
        at = next((i for i, s in enumerate(steps) if s.phase in ("contract", "cleanup")), None)
        at = len(steps) if at is None else at
        steps[at:at] = _rollout_steps(spec, d.name, current_rules(schema, steps[:at]))
    elif pattern == "shadow_traffic":
        at = next((i for i, s in enumerate(steps) if s.phase in ("switch", "contract")), None)
        at = len(steps) if at is None else at
        steps.insert(at, _shadow_step(spec, d.name, current_rules(schema, steps[:at])))
    return steps


def _phases(steps: list[Step]) -> tuple[Phase, ...]:
    """The non-empty phases in their fixed order, each with its title for plan.md."""
    return tuple(
        Phase(
            name=p,
            title=PHASE_TITLES[p][0],
            description=PHASE_TITLES[p][1],
            steps=tuple(s for s in steps if s.phase == p),
        )
        for p in ORDER
        if any(s.phase == p for s in steps)
    )


def _estimates(
    steps: list[Step], phases: tuple[Phase, ...], tables: Sequence[str], measured: Measured,
    dialect: str, lock_ms: int,
) -> Estimates:  # fmt: skip
    """The plan's time figures, summed from the steps' own estimates, with the notes a reader
    needs to judge them (where the rate came from; deploys are not counted)."""
    per_phase = {p.name: round(sum(s.estimate_seconds for s in p.steps), 2) for p in phases}
    down_s, down_why = est.downtime(steps, dialect, lock_ms)
    notes = [f"backfill rate {measured.rate:,.0f} rows/s ({measured.rate_source})"]
    if any(o.kind == "manual" for s in steps for o in s.operations):
        notes.append("application deploys (manual steps) are not included in the total")
    touched = {t: measured.rows.get(t, 0) for t in dict.fromkeys(tables)}
    return Estimates(
        total_seconds=round(sum(per_phase.values()), 2),
        per_phase_seconds=per_phase,
        table_rows=touched,
        table_bytes={t: measured.sizes.get(t, 0) for t in touched},
        backfill_rows_per_second=measured.rate,
        rate_source=measured.rate_source,
        downtime_seconds=down_s,
        downtime_reason=down_why,
        notes=tuple(notes),
    )


def _final_rules(
    spec: ChangeSpec, schema: Schema, steps: list[Step], built: Any, base_rules: Sequence[Mapping[str, Any]],
    documents: bool,
) -> list[dict[str, Any]]:  # fmt: skip
    """The post-migration rules; the touched tables' key rules when nothing else gave any, so
    the executor's gates always have a rule to run."""
    if documents:  # no columns to follow: the builder names the final rules
        post = [{**r, "id": "post-" + str(r.get("id"))} for r in built.final_rules]
    else:
        post = post_rules.post_validation(
            spec,
            [dict(r) for s in steps for r in s.validation],
            base_rules,
            final=shape.final_columns(schema, steps),
            final_rules=built.final_rules,
        )
    if not post:
        post = post_rules.key_rules(spec, schema, built.tables, shape.final_columns(schema, steps))
    return post


def build_plan(
    spec: ChangeSpec,
    schema: Schema,
    *,
    measured: Measured,
    database: str,
    pattern: str | None = None,
    story: str | None = None,
    framework: str = "raw",
    base_rules: Sequence[Mapping[str, Any]] = (),
    created_at: str | None = None,
    plan_id: str | None = None,
    lint: bool = True,
    config: Mapping[str, Any] | None = None,
) -> Plan:
    """The plan for `spec` on `schema` (no I/O); `config` gives the windows it names."""
    lock_ms = int(spec.get("lock_timeout_ms") or DEFAULT_LOCK_TIMEOUT_MS)
    d = dialect_for(schema.dialect, lock_ms)
    refuse_nulls_without_fill(spec, measured)
    title = describe(spec)
    choice = choose(spec, pattern, title)
    if d.documents:  # no triggers: the application keeps both fields in step
        choice = replace(choice, reason=choice.reason.replace(
            "kept in sync by triggers", "kept in sync by the application (MongoDB has no triggers)"))  # fmt: skip
    built = kinds.build(spec, schema, d)
    steps, drop_warnings = drops.audit(
        _number(_ordered_steps(spec, schema, choice.pattern, built, d))
    )
    if choice.pattern == "expand_contract":
        choice = replace(choice, reason=_fit_reason(choice.reason, title, steps, d.documents))
    steps = [
        replace(
            s,
            estimate_seconds=est.step_seconds(s, measured.rows, measured.sizes, measured.rate),
            monitoring=_monitoring(s, lock_ms),
            rollback_triggers=step_triggers(s.validation),
        )
        for s in steps
    ]
    phases = _phases(steps)
    estimates = _estimates(steps, phases, built.tables, measured, d.name, lock_ms)
    created = created_at or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    stamp = f"{created[:10].replace('-', '')}-{created[11:19].replace(':', '')}"
    pid = plan_id or f"{stamp}-{slug(title, 40)}"
    post = _final_rules(spec, schema, steps, built, base_rules, d.documents)
    story = story or spec.story
    warnings = list(built.warnings) + drop_warnings
    if built.result_type_changes:
        warnings.append(PREPARED_STATEMENTS.format(col=", ".join(built.result_type_changes)))
    # a rule that names a column missing when it runs is a planner bug: say so in the plan
    if not d.documents:
        warnings += [f"planner check: {p}" for p in shape.problems(schema, steps, post)]
    plan = Plan(
        id=pid,
        spec=spec,
        dialect=d.name,
        database=database,
        pattern=choice.pattern,
        pattern_reason=choice.reason,
        pattern_overridden=choice.overridden,
        alternatives=choice.alternatives,
        phases=phases,
        estimates=estimates,
        checklist=briefing.checklist(post, built.result_type_changes, pattern=choice.pattern),
        post_validation=tuple(post),
        communication=briefing.communication(
            title, estimates, story, built.result_type_changes, steps
        ),
        lint=(),
        created_at=created,
        title=title,
        story=story,
        framework=framework,
        warnings=tuple(warnings),
        window=assumed_window(config or {}, steps),
    )
    if lint:
        plan = replace(plan, lint=tuple(lint_plan(plan, measured.rows)))
    return replace(plan, hash=plan.compute_hash())


# --- the front door ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanResult:
    plan: Plan
    files: tuple[str, ...]
    plan_md: str


def plan_migration(
    workspace: Any,
    spec: ChangeSpec,
    db: str,
    *,
    pattern: str | None = None,
    story: str | None = None,
    framework: str | None = None,
    write: bool = True,
) -> PlanResult:
    """Inspect, measure, build, lint, write and store. Returns the plan and the files written."""

    choose(spec, pattern)  # refuse a bad override before connecting
    with connect(db, workspace) as backend:
        schema = backend.inspect()
        # refusals that need only the dialect and the schema come before any measurement
        check_spec(spec, schema.dialect)
        if not backend.documents:
            kinds.check_names(spec, schema)
        nulls = count_nulls(backend, schema, spec)
        refuse_nulls_without_fill(spec, Measured({}, {}, 0.0, "", nulls))
        rows: dict[str, int] = {}
        sizes: dict[str, int] = {}
        for t in schema.tables:
            n = t.exact_count if t.exact_count is not None else t.row_estimate
            if n is None or n < 0 or n < 100_000:
                try:
                    n = backend.exact_count(t.qualified_name)
                except Exception:  # noqa: BLE001 - an estimate is still useful
                    n = n if n and n > 0 else 0
            rows[t.name] = int(n or 0)
            sizes[t.name] = int(t.total_bytes or t.size_bytes or 0)
        for c in schema.collections:
            rows[c.name] = int(c.document_count or 0)
            sizes[c.name] = int(c.size_bytes or 0)
        main = schema.table(spec.table) if spec.table else None
        if main is not None and main.primary_key:
            r = est.measure_rate(backend, main.name, main.primary_key.columns, rows.get(main.name))
        else:
            r = est.Rate(est.DEFAULT_ROWS_PER_SECOND, "default: no table with a key to measure")
        label = redact_url(getattr(backend.url, "label", None) or db)
    base: list[dict[str, Any]] = []
    if main is not None and spec.kind not in ("raw_sql",):
        try:
            base = rules_from_schema(db, main.name, workspace=workspace)["rules"]
        except Exception:  # noqa: BLE001 - rules of the steps still apply
            base = []
    fw = framework or frameworks_out.detect(workspace)
    plan = build_plan(
        spec,
        schema,
        measured=Measured(rows, sizes, r.rows_per_second, r.source, nulls),
        database=label,
        pattern=pattern,
        story=story,
        framework=fw,
        base_rules=base,
        config=getattr(workspace, "config", None),
    )

    check(
        plan.to_dict(),
        "plan",
        source="plan.json",
        hint="This is a planner bug: report it with the spec.",
    )
    md = documents.plan_markdown(plan)
    files: list[str] = []
    if write:
        written = frameworks_out.write_migrations(workspace, plan)
        docs = documents.write_documents(workspace, plan, md)
        files = [workspace.relative(Path(p)) for p in (*docs, *written)]
        plan = replace(plan, artifacts=tuple(files))
        store.save_plan(workspace, plan)
        files.insert(0, workspace.relative(store.plans_dir(workspace) / f"{plan.id}.json"))
        (Path(docs[0])).write_text(store.plan_json_text(plan), encoding="utf-8")

        plan_created(workspace, plan)  # the bus `status` other agents follow; never fails a plan
    return PlanResult(plan, tuple(files), md)


def refuse_unknown(kind: str) -> None:
    if kind not in kinds.BUILDERS:
        raise UserInputError(f"unknown change kind {kind!r}", hint=", ".join(kinds.BUILDERS))
