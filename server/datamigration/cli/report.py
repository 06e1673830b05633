"""Terminal face of the run report: `datamigration report PLAN_ID` writes (again) the markdown
report with its SVG charts under docs/runs/<plan>/ and links it from the plan's story. The
executor writes the same report at the end of every run; the MCP execute answer names it in its
notes (there is no separate tool: the report is a file to read)."""

from __future__ import annotations

import argparse

from datamigration.cli._common import add_json_flag, print_json, print_text, workspace_of


def cmd_report(args: argparse.Namespace) -> int:
    from datamigration.safety.report import write_run_report

    out = write_run_report(workspace_of(args), args.plan_id, link=not args.no_link)
    if args.json:
        print_json(out)
        return 0
    print_text(f"run report of {out['plan_id']}: {out['report']} ({out['events']} events, "
               f"{out['samples']} samples, {len(out['charts'])} charts)")  # fmt: skip
    for note in out["notes"]:
        print_text(f"  note: {note}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    r = subparsers.add_parser(
        "report",
        help="write a run's report: markdown with latency, throughput, lag and rows/s charts",
        description="Reads .datamigration/runs/<plan>.jsonl and the run's samples, writes "
        "docs/runs/<plan>/report.md with SVG charts, and links it from the plan's story "
        "(run_report in status.json).",
    )
    r.add_argument("plan_id")
    r.add_argument("--no-link", action="store_true", help="do not record it on the story")
    add_json_flag(r)
    r.set_defaults(func=cmd_report)
