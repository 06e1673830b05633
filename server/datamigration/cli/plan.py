"""Terminal twin of the `plan_migration` tool: `datamigration plan SPEC.json --db URL`.

Parses the spec, calls `plan.planner.plan_migration` once, prints the plan summary (or the plan
as JSON with `--json`). Exit 0 when the plan was written; 1 when its generated SQL has open
lint errors (the plan is still written, for review).
"""

from __future__ import annotations

import argparse

from datamigration.cli._common import add_json_flag, print_json, print_text, workspace_of


def cmd_plan(args: argparse.Namespace) -> int:
    from datamigration.plan.linting import open_findings
    from datamigration.plan.planner import plan_migration
    from datamigration.plan.spec import load_spec

    ws = workspace_of(args)
    spec = load_spec(ws.resolve(args.spec))
    result = plan_migration(
        ws, spec, args.db, pattern=args.pattern, story=args.story, framework=args.framework
    )
    p = result.plan
    errors = open_findings(p)
    if args.json:
        print_json({"plan": p.to_dict(), "files": list(result.files)})
    else:
        lines = [
            f"plan {p.id}  hash {p.hash}",
            f"pattern: {p.pattern} — {p.pattern_reason}",
            (
                f"estimated {p.estimates.total_seconds:.0f} s of database work; downtime "
                f"{p.estimates.downtime_seconds:.0f} s ({p.estimates.rate_source})"
            ),
        ]
        for ph in p.phases:
            lines.append(f"{ph.title}:")
            lines += [f"  {s.id} {s.title} (~{s.estimate_seconds:.0f} s)" for s in ph.steps]
        lines += [f"warning: {w}" for w in p.warnings]
        lines += [f"lint error: {f['rule']} {f['message']}" for f in errors]
        lines.append("written: " + ", ".join(result.files))
        lines.append(f"execute with: --plan {p.id} --hash {p.hash[:12]}")
        print_text("\n".join(lines))
    return 1 if errors else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plan",
        help="plan a zero-downtime migration from a change spec",
        description="Choose the pattern, generate every step with its rollback, validation and "
        "estimates, lint it, and write plan.json, plan.md and migration files. The backfill "
        "rate is measured on the target with one sample UPDATE of up to 1,000 rows in a "
        "transaction that is always rolled back.",
    )
    p.add_argument("spec", help="change spec JSON file (schemas/change-spec.schema.json)")
    p.add_argument("--db", required=True, help="database URL or connection name")
    p.add_argument(
        "--pattern",
        choices=["expand_contract", "dual_write_cdc", "shadow_traffic", "feature_flags"],
        help="override the chosen pattern",
    )
    p.add_argument("--story", help="story id, e.g. US-0042")
    p.add_argument(
        "--framework", choices=["flyway", "alembic", "raw"], help="default: what the repo uses"
    )
    add_json_flag(p)
    p.set_defaults(func=cmd_plan)
