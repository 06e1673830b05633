"""The demo's steps, in order: each one calls a real engine and states what it did.

The story the demo tells: a small shop (users, orders) on SQLite needs faster "my orders"
lookups and a stricter users table. AG-DATAMIGRATION opens a story, inspects the database, checks
the data the change depends on, proves the query path is read-only, lints the migration a
developer wrote and shows the safe rewrite, records the decision in an ADR and announces the plan
on the bus. Plan, execute and validate steps join this list as those engines land.

The validation engine is imported inside its step, so `datamigration --help` (which loads this
module through the runner) does not pay for it; the engines imported at the top are loaded by
the CLI's other commands anyway.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from datamigration import AGENT_NAME as AGENT
from datamigration import db
from datamigration.coordination import adr, bus, expertise, status
from datamigration.coordination.paths import coordination_paths
from datamigration.demo import sample
from datamigration.demo.context import DemoContext, Done, Step, StepSkipped
from datamigration.demo.live import step_live_rename, step_live_rollback
from datamigration.errors import HarnessRuleError, ReadOnlyViolationError
from datamigration.lint.engine import lint_text
from datamigration.lint.model import LintOptions

STORY_TITLE = "Index orders by user and require users.country, with zero downtime"


def step_open_story(ctx: DemoContext) -> Done:
    """Open the story in status.json (AgileFlow format)."""
    change = status.new_story(
        ctx.workspace,
        ctx.story_id,
        STORY_TITLE,
        status="ready",
        fields={"owner": AGENT, "estimate": "1d", "tags": ["migration", "zero-downtime"]},
    )
    return Done(
        f"{ctx.story_id} created as {change.status}: {STORY_TITLE}",
        files=(ctx.workspace.relative(change.path),),
        data={"story": ctx.story_id, "status": change.status},
    )


def step_sample_database(ctx: DemoContext) -> Done:
    """Create the sample shop database (users, orders) on embedded SQLite."""
    data = sample.generate()
    with db.connect(ctx.database_url, ctx.workspace) as backend:
        backend.execute(list(sample.SCHEMA) + sample.insert_statements(data))
    ctx.facts["sample"] = data
    return Done(
        f"{len(data.users)} users and {len(data.orders)} orders in {sample_db_name(ctx)}",
        details=(f'connection "{ctx.connection_name}" = {ctx.database_url} (datamigration.toml)',),
        files=(sample_db_name(ctx), "datamigration.toml"),
        data={"users": len(data.users), "orders": len(data.orders)},
    )


def step_inspect(ctx: DemoContext) -> Done:
    """Inspect the schema: tables, columns, keys, indexes, row counts."""
    with db.connect(ctx.connection_name, ctx.workspace) as backend:
        schema = backend.inspect(tables=ctx.tables, exact_counts=True)
    details = []
    tables = {}
    for table in schema.tables:
        rows = table.exact_count if table.exact_count is not None else table.row_estimate
        nullable = [c.name for c in table.columns if c.nullable]
        pk = ", ".join(table.primary_key.columns) if table.primary_key else "none"
        details.append(
            f"{table.name}: {rows} rows, {len(table.columns)} columns, primary key ({pk}), "
            f"{plural(len(table.indexes), 'index', 'indexes')}, "
            f"{plural(len(table.foreign_keys), 'foreign key')}"
            + (f"; nullable: {', '.join(nullable)}" if nullable else "")
        )
        tables[table.name] = {
            "rows": rows,
            "columns": list(table.column_names),
            "indexes": [i.name for i in table.indexes],
            "foreign_keys": len(table.foreign_keys),
        }
    ctx.facts["schema"] = schema
    orders = schema.table("orders")
    if orders is not None and not any(i.columns[:1] == ("user_id",) for i in orders.indexes):
        details.append("orders.user_id has no index: every 'my orders' page scans the table")
    return Done(
        f"{len(schema.tables)} tables read with {schema.query_count} queries",
        details=tuple(details),
        data={"tables": tables, "query_count": schema.query_count},
    )


def step_precheck_query(ctx: DemoContext) -> Done:
    """Run the read-only pre-check the plan depends on."""
    with db.connect(ctx.connection_name, ctx.workspace) as backend:
        check = backend.query(sample.PRECHECK_QUERY)
        top = backend.query(sample.TOP_CUSTOMERS_QUERY)
    missing, total = check.rows[0]
    ctx.facts["users_without_country"] = missing
    details = [
        (
            f"{missing} of {total} users have no country: SET NOT NULL would fail on them, "
            "so the plan backfills them first"
        ),
        "top customers by revenue (the rows a slow 'my orders' page hurts most):",
    ]
    details += [
        f"  {email}: {orders} orders, {cents / 100:.2f} in total"
        for email, orders, cents in top.rows
    ]
    return Done(
        f"{missing} users without country found in {check.elapsed_ms + top.elapsed_ms:.1f} ms",
        details=tuple(details),
        data={
            "users_without_country": missing,
            "users_total": total,
            "top_customers": len(top.rows),
        },
    )


def step_read_only_guard(ctx: DemoContext) -> Done:
    """Prove the query path is read-only, enforced by the database."""
    attempt = "DELETE FROM orders WHERE status = 'refunded'"
    with db.connect(ctx.connection_name, ctx.workspace) as backend:
        before = backend.query("SELECT count(*) FROM orders").rows[0][0]
        try:
            backend.query(attempt)
        except ReadOnlyViolationError as exc:
            refusal = exc.message
        else:  # pragma: no cover - would be a security bug, and the e2e test would catch it
            raise ReadOnlyViolationError(
                "the read-only query path accepted a DELETE",
                hint="This is a bug; report it. No demo data is important.",
            )
        after = backend.query("SELECT count(*) FROM orders").rows[0][0]
    return Done(
        f"a DELETE sent to the query tool was refused; orders still {after} rows",
        details=(f"refused: {refusal}",),
        data={"orders_before": before, "orders_after": after},
    )


def step_lint_migration(ctx: DemoContext) -> Done:
    """Lint the migration a developer wrote and show the safe rewrite."""
    path = ctx.workspace.resolve(sample.UNSAFE_MIGRATION_NAME)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sample.UNSAFE_MIGRATION, encoding="utf-8")
    name = ctx.workspace.relative(path)
    # The file targets production PostgreSQL; severities assume production-sized tables
    # (with a database URL the linter scales them by live row counts instead).
    report = lint_text(sample.UNSAFE_MIGRATION, name, LintOptions(dialect="postgres"))
    errors = [f for f in report.findings if f.severity == "error"]
    ctx.facts["lint_errors"] = errors
    details = [f"{name}:{f.line} {f.rule} [{f.lock}]: {f.message}" for f in errors]
    others = len(report.findings) - len(errors)
    if others:
        details.append(
            f"(+{plural(others, 'warning or note', 'warnings and notes')}: lock_timeout, "
            "statement_timeout, re-runnable statements)"
        )
    safe = ctx.workspace.resolve(sample.SAFE_REWRITE_NAME)
    safe.write_text(safe_rewrite(name, errors), encoding="utf-8")
    shown = next((f for f in errors if f.rule == "pg-set-not-null"), errors[0] if errors else None)
    if shown is not None:
        details.append(f"safe rewrite of line {shown.line} ({shown.rule}):")
        details.extend(f"    {line}" for line in shown.fix.splitlines())
        details.append(f"safe rewrite of every blocking statement: {ctx.workspace.relative(safe)}")
    return Done(
        f"{report.statements} statements, {plural(len(errors), 'blocking error')}, "
        f"{len(report.findings)} findings in {name}",
        details=tuple(details),
        files=(name, ctx.workspace.relative(safe)),
        data={
            "statements": report.statements,
            "errors": [f.rule for f in errors],
            "findings": [f.to_dict() for f in report.findings],
        },
    )


def safe_rewrite(name: str, errors: list) -> str:
    """The linter's safe sequences, one section per blocking statement, in file order."""
    parts = [
        f"-- Safe rewrite of {name}, as suggested by the AG-DATAMIGRATION linter.",
        "-- Each section replaces one blocking statement; run the sections in order, each step",
        "-- in the transaction its comments say (CONCURRENTLY never inside one).",
    ]
    for f in errors:
        parts += ["", f"-- line {f.line}: {f.statement or f.rule}  [{f.rule}, {f.lock}]", f.fix]
    return "\n".join(parts) + "\n"


def step_write_adr(ctx: DemoContext) -> Done:
    """Record the pattern decision in an ADR."""
    errors = ctx.facts.get("lint_errors") or []
    missing = ctx.facts.get("users_without_country")
    schema = ctx.facts.get("schema")
    sizes = (
        ", ".join(f"{t.name} {t.exact_count} rows" for t in schema.tables) if schema else "unknown"
    )
    created = adr.new_adr(
        ctx.workspace,
        "Expand-contract for the orders and users changes",
        context=(
            f"{ctx.story_id} needs orders looked up by user and users.country to be required. "
            f"The migration as written ({sample.UNSAFE_MIGRATION_NAME}) has "
            f"{plural(len(errors), 'blocking statement')}: "
            + "; ".join(f"line {f.line} takes {f.lock}" for f in errors)
            + f". Tables today: {sizes}; "
            f"{missing if missing is not None else 'an unknown number of'} users have no country."
        ),
        decision=(
            "Apply the change with expand-contract and no blocking step: build the index "
            "CONCURRENTLY, add the foreign key NOT VALID and validate it separately, backfill "
            "the users without country, then enforce NOT NULL through a validated CHECK, and "
            "move total_cents to bigint through a synced shadow column. Every DDL statement "
            "runs with lock_timeout and retries."
        ),
        positive=(
            "No write is blocked for longer than the lock timeout",
            "Each step can be rolled back on its own",
        ),
        negative=(
            "More steps and two deploys (the contract step follows the switch of readers)",
            "A sync trigger costs a little on every write to orders until the contract step",
        ),
        neutral=("The backfill of users without country needs a product decision on defaults",),
        alternatives=(
            "Run the file as written in a maintenance window: simple, but takes the shop down",
            "Copy to a shadow table and swap (gh-ost style): heavier than needed for additive DDL",
        ),
        references=(
            sample.UNSAFE_MIGRATION_NAME,
            sample.SAFE_REWRITE_NAME,
            f"story {ctx.story_id}",
        ),
        status="Proposed",
        story=ctx.story_id,
    )
    return Done(
        f"{created.record.label} written ({created.status})",
        details=(f"{created.relative_path}: {created.title}",),
        files=(created.relative_path,),
        data={"adr": created.record.label, "path": created.relative_path},
    )


def step_start_and_announce(ctx: DemoContext) -> Done:
    """Set the story in progress and announce the plan on the bus."""
    change = status.update_story(
        ctx.workspace, ctx.story_id, status="in-progress", note="plan drafted by the demo"
    )
    missing = ctx.facts.get("users_without_country")
    backfill = f", backfill {missing} users without country first" if missing else ""
    message = bus.post(
        ctx.workspace,
        "status",
        f"Migration plan created for orders/users: expand-contract, zero-downtime "
        f"(concurrent index, NOT VALID constraints validated separately{backfill}).",
        to="ALL",
        story=ctx.story_id,
    )
    question = bus.post(
        ctx.workspace,
        "question",
        "AG-DATABASE: orders_user_id_idx will be built CONCURRENTLY; any other index on "
        "orders(user_id, created_at) you want in the same window?",
        to="AG-DATABASE",
        story=ctx.story_id,
    )
    return Done(
        f"{ctx.story_id} is {change.status}; plan announced and a question sent to AG-DATABASE",
        details=(f"bus: {message.text}",),
        files=(ctx.workspace.relative(coordination_bus_path(ctx)),),
        data={"status": change.status, "messages": 2, "question": question.text},
    )


def step_validate_and_gate(ctx: DemoContext) -> Done:
    """Validate the data against the target rules; the harness rule keeps the story out of review."""
    from datamigration.validate.generate import rules_from_schema
    from datamigration.validate.report import validate_file

    rules = rules_from_schema(ctx.connection_name, "users", workspace=ctx.workspace)
    rules["name"] = "target state"
    rules["story"] = ctx.story_id
    rules["rules"] += [
        {
            "id": "users-country-required",
            "type": "not_null",
            "table": "users",
            "columns": ["country"],
            "description": "what SET NOT NULL will demand",
        },
        {
            "id": "orders-user-fk",
            "type": "fk_orphans",
            "table": "orders",
            "columns": ["user_id"],
            "ref_table": "users",
            "ref_columns": ["id"],
            "description": "what the new foreign key will demand",
        },
    ]
    path = ctx.workspace.resolve(sample.RULES_NAME)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    result = validate_file(ctx.workspace, ctx.workspace.relative(path), story=ctx.story_id)
    details = [
        f"{'pass' if r['passed'] else 'FAIL'} {r['id']}: {r['message']}" for r in result["results"]
    ]
    try:
        status.update_story(ctx.workspace, ctx.story_id, status="in-review")
    except HarnessRuleError as exc:
        gate = "refused"
        details.append(f"{ctx.story_id} -> in-review refused by the harness rule: {exc.message}")
    else:
        gate = "allowed"
        details.append(f"{ctx.story_id} -> in-review allowed: the latest validation passed")
    return Done(
        f"{result['passed_count']} of {len(result['results'])} rules passed; "
        f"moving {ctx.story_id} to review was {gate}",
        details=tuple(details),
        files=(
            ctx.workspace.relative(path),
            result["report_json"],
            result["report_markdown"],
        ),
        data={
            "passed": result["passed"],
            "failed": [r["id"] for r in result["results"] if not r["passed"]],
            "test_status": result["test_status"],
            "review_gate": gate,
        },
    )


def step_learn(ctx: DemoContext) -> Done:
    """Load the expertise file and append what this run learned."""
    seeded = _seed_expertise(ctx)
    known = expertise.load(ctx.workspace) if seeded else None
    missing = ctx.facts.get("users_without_country", 0)
    learned = expertise.learn(
        ctx.workspace,
        context=f"{ctx.story_id}: SET NOT NULL on users.country",
        insight=(
            f"{missing} users had no country; a pre-check query before planning turned a "
            "migration that would have failed half-way into a backfill step."
        ),
        files=(sample.UNSAFE_MIGRATION_NAME,),
    )
    rel = ctx.workspace.relative(learned.path)
    details = []
    if known is not None:
        patterns = [p.get("name") for p in known.data.get("patterns") or []]
        details.append(f"loaded {len(patterns)} patterns: {', '.join(map(str, patterns))}")
    details.append(f"learned: {learned.learning['insight']}")
    return Done(
        f"one learning appended to {rel} ({learned.line_count} lines)",
        details=tuple(details),
        files=(rel,),
        data={"learning": learned.learning, "patterns_loaded": bool(known)},
    )


def _seed_expertise(ctx: DemoContext) -> bool:
    """Start the demo workspace from this project's expertise file when it is at hand.

    In a source checkout (`make demo`) the file sits next to the package; an installed wheel
    does not carry it, and `learn` then starts a minimal file of its own.
    """
    source = Path(__file__).resolve().parents[3] / "expertise" / "datamigration.yaml"
    if not source.is_file():
        return False
    target = coordination_paths(ctx.workspace).expertise
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    return True


def coordination_bus_path(ctx: DemoContext) -> Path:
    return coordination_paths(ctx.workspace).bus


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def sample_db_name(ctx: DemoContext) -> str:
    return ctx.workspace.relative(ctx.root / "app.db")


STEPS: tuple[Step, ...] = (
    step_open_story,
    step_sample_database,
    step_inspect,
    step_precheck_query,
    step_read_only_guard,
    step_lint_migration,
    step_write_adr,
    step_start_and_announce,
    step_validate_and_gate,
    # the live chapter (demo/live.py): a real expand-contract change under load, rolled back
    step_live_rename,
    step_live_rollback,
    step_learn,
)

__all__ = ["STEPS", "StepSkipped"]
