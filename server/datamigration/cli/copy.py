"""Terminal twin of the copy_data tool: `datamigration copy SRC DST --tables a,b`.

Parses the flags into a `move.CopyRequest`, confirms with --yes (a dry run needs none), calls
`move.run_copy` with a progress view (rich bars per table on a terminal, plain lines
otherwise) and prints the report. Exit codes: 0 copied and validated, 1 the validation found
differences or rows were rejected, others as every command (2 input, 3 confirmation, 4
conflict, 5 database).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from datamigration.cli._common import (
    add_json_flag,
    add_load_flags,
    conversion_lines,
    csv_tuple,
    load_options,
    print_answer,
    validated_line,
    workspace_of,
)


class _Lines:
    """Plain progress lines on stderr."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        if self.quiet:
            return
        if event == "partition":
            text = (
                f"  {data['table']} partition {data['index']}: {data['rows']} rows "
                f"({data['done']}/{data['of']})"
            )
        elif event == "start":
            text = (
                f"copy {data['run_id']}: {data['todo']} of {data['partitions']} partitions to run"
            )
        elif event == "validate":
            text = validated_line(data)
        else:
            text = f"{event.replace('_', ' ')}: {data}"
        print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        return None


class _Bars(_Lines):
    """Rich progress bars per table (rows, rows/s, ETA) on a terminal."""

    def __init__(self) -> None:
        super().__init__(False)
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} rows"),
            TextColumn("{task.fields[speed]}"),
            TimeRemainingColumn(),
            transient=False,
        )
        self.tasks: dict[str, Any] = {}

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        if event == "start":
            self.progress.start()
            for table, rows in data["tables"].items():
                self.tasks[table] = self.progress.add_task(table, total=rows or 1, speed="")
        elif event == "partition" and data["table"] in self.tasks:
            speed = f"{data['rows'] / data['seconds']:.0f} rows/s" if data["seconds"] else ""
            self.progress.update(self.tasks[data["table"]], advance=data["rows"], speed=speed)
        elif event == "finish":
            self.close()
        elif event != "partition":
            self.progress.console.print(f"{event}: {data.get('table', '')}")

    def close(self) -> None:
        self.progress.stop()


def cmd_copy(args: argparse.Namespace) -> int:
    from datamigration.confirmation import require_yes
    from datamigration.move import CopyRequest, run_copy
    from datamigration.move.request import copy_action, load_mapping

    ws = workspace_of(args)
    resume = args.resume is not None
    request = CopyRequest(
        source=args.source,
        target=args.target,
        tables=csv_tuple(args.tables),
        workspace=str(ws.root),
        mapping=load_mapping(ws, args.mapping) if args.mapping else None,
        workers=args.workers,
        batch_size=args.batch_size,
        partition_rows=args.partition_rows,
        pool=args.pool,
        cluster=args.cluster,
        max_connections=args.max_connections,
        resume=resume,
        run_id=args.resume if isinstance(args.resume, str) else None,
        story=args.story,
        **load_options(args),
    )
    if not args.dry_run:
        require_yes(copy_action(request, ws), args.yes)
    view = (
        _Bars()
        if sys.stderr.isatty() and not args.quiet and not args.json
        else _Lines(args.quiet or args.json)
    )
    try:
        report = run_copy(request, progress=view)
    finally:
        view.close()
    print_answer(args, report, render_text)
    if report.get("dry_run"):
        return 0
    return 0 if report["passed"] and not report["rejected"] else 1


def render_text(r: dict[str, Any]) -> str:
    if r.get("dry_run"):
        lines = [f"dry run: copy from {r['source']} to {r['target']}"]
        for t in r["tables"]:
            lines.append(
                f"  {t['table']}: {t['rows']} rows by {', '.join(t['key'])}, "
                f"{len(t['partitions'])} partition(s)"
            )
            lines += [f"    {stmt}" for stmt in t["ddl"]]
        return "\n".join(lines + conversion_lines(r["conversions"]))
    verdict = "passed" if r["passed"] else "FAILED"
    head = f"copy {r['run_id']}: {r['rows_copied']} rows copied, {r['rejected']} rejected, "
    lines = [head + f"validation {verdict}"]
    for v in r["validation"]:
        lines.append(
            f"  {v['table']}: {v['target_rows']}/{v['source_rows']} rows, missing "
            f"{v['missing_count']}, extra {v['extra_count']}, changed "
            f"{v['changed_count']}"
        )
    lines.append(f"report: {r['report_markdown']}")
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    from datamigration.move.request import (
        DEFAULT_BATCH_SIZE,
        DEFAULT_MAX_CONNECTIONS,
        DEFAULT_PARTITION_ROWS,
        DEFAULT_WORKERS,
    )

    p = subparsers.add_parser(
        "copy", help="copy tables between databases: partitioned, parallel, resumable, validated"
    )
    p.add_argument("source", help="source database URL or connection name")
    p.add_argument("target", help="target database URL or connection name")
    p.add_argument("--tables", required=True, help="comma-separated source tables")
    p.add_argument("--mapping", help="mapping file (JSON/YAML) for document targets")
    p.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="parallel partitions")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="rows per batch")
    p.add_argument(
        "--partition-rows",
        type=int,
        default=DEFAULT_PARTITION_ROWS,
        help="rows per key-range partition",
    )
    p.add_argument("--pool", choices=("thread", "process"), default="thread")
    p.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run partitions on Dask: tcp://scheduler:8786, or local[:N] worker processes",
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=DEFAULT_MAX_CONNECTIONS,
        help="connections the copy may hold on each database",
    )
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=None,
        metavar="RUN_ID",
        help="resume a run (default: the last unfinished one of these tables)",
    )
    add_load_flags(p, dry_run_help="print the plan of work; copy nothing")
    p.add_argument("--story", help="record the verdict on this story (status.json)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    add_json_flag(p)
    p.set_defaults(func=cmd_copy)
