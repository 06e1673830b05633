"""`datamigration lint`: the terminal twin of the `lint_migration` MCP tool, built for CI.

Reads files, migration folders or stdin (so `alembic upgrade --sql | datamigration lint` works),
prints text, JSON or SARIF 2.1, and exits 1 when a finding of error severity is present.
"""

from __future__ import annotations

import argparse
import json
import sys

from datamigration.cli._common import print_json, print_text, workspace_of
from datamigration.errors import UserInputError
from datamigration.lint import lint_paths
from datamigration.lint.catalogue import RULES
from datamigration.lint.model import DIALECTS, LintOptions
from datamigration.lint.report import to_json, to_sarif, to_text


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "lint",
        help="check migration SQL for long locks and breaking changes, with the safe rewrite",
        description="Lint migration SQL (files, folders, or stdin when no path is given).",
    )
    p.add_argument("paths", nargs="*", metavar="PATHS", help="SQL files or migration folders")
    p.add_argument(
        "--dialect",
        choices=DIALECTS,
        default=None,
        help="SQL dialect (default: the --db database's, else postgres)",
    )
    p.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    p.add_argument("--db", metavar="URL", help="live database: table sizes decide severity")
    p.add_argument(
        "--trace",
        action="store_true",
        help="with --db (PostgreSQL): copy the tables the file touches into a scratch schema, "
        "run each statement on the copy in a rolled-back transaction, and report the locks "
        "taken and rewrites (the real tables get ACCESS SHARE only; needs CREATE on the db)",
    )
    p.add_argument(
        "--assume-in-transaction",
        action="store_true",
        help="the framework wraps each migration in a transaction",
    )
    p.add_argument(
        "--pg-version",
        type=int,
        default=15,
        metavar="N",
        help="target PostgreSQL major version (default 15)",
    )
    p.add_argument(
        "--exclude", default="", metavar="RULES", help="comma-separated rule ids to turn off"
    )
    p.add_argument("--no-fix", action="store_true", help="text output without the rewrites")
    p.add_argument("--list-rules", action="store_true", help="print the rule catalogue and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list_rules:
        for r in RULES.values():
            print_text(f"{r.id:40} {r.severity:8} {r.dialect:9} {r.title}")
        return 0
    excluded = frozenset(x.strip() for x in args.exclude.split(",") if x.strip())
    unknown = sorted(excluded - set(RULES))
    if unknown:
        raise UserInputError(
            f"unknown rule id(s) in --exclude: {', '.join(unknown)}",
            hint="`datamigration lint --list-rules` prints every id.",
        )
    if args.trace and not args.db:
        raise UserInputError("--trace needs --db URL", hint="Pass the database to trace against.")
    workspace = workspace_of(args)
    stdin_text = None
    if not args.paths:
        if sys.stdin is None or sys.stdin.isatty():
            raise UserInputError(
                "no paths given and nothing on stdin",
                hint="datamigration lint migrations/  or  ... | datamigration lint",
            )
        stdin_text = sys.stdin.read()
    options = LintOptions(
        dialect=args.dialect or "postgres",
        assume_in_transaction=args.assume_in_transaction,
        pg_version=args.pg_version,
        disabled_rules=excluded,
    )
    if args.db:
        from datamigration.lint.live import lint_live

        report = lint_live(
            workspace,
            args.paths,
            options,
            args.db,
            trace=args.trace,
            stdin_text=stdin_text,
            assume_given=args.assume_in_transaction,
            auto_dialect=args.dialect is None,
        )
    else:
        report = lint_paths(
            workspace,
            args.paths,
            options,
            stdin_text=stdin_text,
            assume_given=args.assume_in_transaction,
        )
    if args.format == "json":
        print_json(to_json(report))
    elif args.format == "sarif":
        sys.stdout.write(json.dumps(to_sarif(report), indent=2) + "\n")
    else:
        print_text(to_text(report, show_fix=not args.no_fix))
    return 1 if report.has_errors else 0
