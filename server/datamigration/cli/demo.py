"""`datamigration demo`: run the demo in a fresh workspace and print what happened."""

from __future__ import annotations

import argparse
from pathlib import Path

from datamigration.cli._common import add_json_flag, print_json
from datamigration.demo.runner import DEFAULT_DIR, DemoReport, run_demo
from datamigration.errors import UserInputError
from datamigration.redact import redact_text

_MARKS = {"done": "[green]✓[/]", "skipped": "[yellow]-[/]", "failed": "[red]✗[/]"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run a zero-downtime migration walkthrough on a sample database (SQLite, or "
        "PostgreSQL with --db)",
        description="Create a demo workspace with a sample shop database and walk through what "
        "AG-DATAMIGRATION does: story, inspect, read-only pre-check, lint with safe rewrite, ADR, "
        "bus, validation and the harness rule, then a live chapter: a small app keeps reading "
        "and writing while the planner and executor rename a column with expand-contract (sync "
        "triggers, batched backfill, concurrent index builds on PostgreSQL), a feature flag "
        "rolls the new code out, and everything is rolled back. Without --db it runs on "
        "embedded SQLite and works offline; re-running replaces the previous demo.",
    )
    parser.add_argument(
        "--dir",
        default=DEFAULT_DIR,
        help=f"demo workspace directory (default: ./{DEFAULT_DIR}); must be new, empty, or a "
        "previous demo",
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help="run on this database server instead of SQLite (postgresql://... or mongodb://..., "
        "whose chapter renames a field of a live collection and rolls it back): the demo "
        "creates its own database dm_demo_<random> there (or a schema of that name in the URL's "
        "database when the role may not CREATE DATABASE), never touches existing tables, and "
        "drops what it created at the end; the password stays out of every file and output",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="with --db: keep the demo's database (or schema) on the server afterwards",
    )
    parser.add_argument(
        "--move",
        action="store_true",
        help="the move chapter instead: users move from the SQLite sample to another database "
        "under load (capture, snapshot, catch-up, shadow reads, cutover) and the cutover is "
        "rolled back",
    )
    parser.add_argument(
        "--move-to",
        metavar="URL",
        help="with --move: the target (postgresql://... or mongodb://...; default: a second "
        "SQLite file in the demo workspace)",
    )
    add_json_flag(parser)
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    if args.keep and not args.db:
        raise UserInputError(
            "--keep applies to --db: the SQLite demo's database stays in its workspace anyway",
            hint="Drop --keep, or pass --db postgresql://...",
        )
    if args.move_to and not args.move:
        raise UserInputError("--move-to applies to --move", hint="Add --move.")
    if args.move:
        if args.db:
            raise UserInputError("--move starts from the SQLite sample; --db is not used there",
                                 hint="Name the target with --move-to instead.")  # fmt: skip
        from datamigration.demo.move import move_step
        from datamigration.demo.steps import step_sample_database

        report = run_demo(Path(args.dir), steps=(step_sample_database, move_step(args.move_to)))
    else:
        report = run_demo(Path(args.dir), db=args.db, keep=args.keep)
    if args.json:
        print_json(report.to_dict())
    else:
        render(report)
    return 0 if report.ok else 1


def render(report: DemoReport) -> None:
    from rich.console import Console
    from rich.markup import escape as escape_markup

    def escape(text: str) -> str:
        return escape_markup(redact_text(text))

    console = Console(highlight=False, soft_wrap=True)
    where = ""
    if report.database is not None:
        where = f" on {escape(report.database.redacted)}"
    console.print(f"[bold]AG-DATAMIGRATION demo[/] in {escape(str(report.workspace))}{where}")
    for n, step in enumerate(report.steps, 1):
        console.print(
            f"{_MARKS[step.status]} {n}. [bold]{escape(step.title)}[/]: {escape(step.summary)}"
        )
        for line in step.details:
            console.print(f"     {escape(line)}")
    files = sorted({f for s in report.steps for f in s.files})
    if files:
        console.print("[bold]Files[/]: " + ", ".join(escape(f) for f in files))
    done = sum(s.status == "done" for s in report.steps)
    skipped = sum(s.status == "skipped" for s in report.steps)
    failed = len(report.steps) - done - skipped
    verdict = "[green]ok[/]" if report.ok else "[red]failed[/]"
    console.print(
        f"{verdict}: {done} steps done, {skipped} skipped, {failed} failed "
        f"in {report.seconds:.1f} s"
    )
