"""Terminal twins of export_data and import_data: `datamigration export` / `datamigration import`.

`export SRC --tables a,b --to DIR [--format parquet|csv|jsonl]` writes each table to a file in
DIR and the manifest last; `import DIR DST [--tables a,b]` verifies every file against the
manifest, then creates the target tables and loads them (confirmed with --yes; a dry run needs
none). DIR is a path on this machine (relative paths from the workspace root); the MCP tools
keep it inside the workspace. Exit codes: 0 done (and, for import, validated), 1 the import's
check found differences or rows were refused, others as every command (2 input, 3
confirmation, 4 a damaged export or a conflict, 5 database or a full disk).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from datamigration.cli._common import (
    add_json_flag,
    add_load_flags,
    conversion_lines,
    csv_tuple,
    load_options,
    print_answer,
    print_json,
    print_text,
    validated_line,
    workspace_of,
)


def _directory(root: Path, given: str) -> str:
    path = Path(given).expanduser()
    return str(path if path.is_absolute() else root / path)


def _progress(quiet: bool) -> Any:
    def emit(event: str, data: dict[str, Any]) -> None:
        if quiet or event == "batch":
            return
        if event == "table_done":
            text = f"  {data['table']}: {data['rows']} rows"
        elif event == "validate":
            text = validated_line(data)
        else:
            text = f"{event}: " + ", ".join(f"{k}={v}" for k, v in data.items())
        print(text, file=sys.stderr, flush=True)

    return emit


def cmd_export(args: argparse.Namespace) -> int:
    from datamigration.move.files.export import ExportRequest, export_tables

    ws = workspace_of(args)
    request = ExportRequest(
        source=args.source,
        tables=csv_tuple(args.tables),
        directory=_directory(ws.root, args.to),
        format=args.format,
        workspace=str(ws.root),
        batch_size=args.batch_size,
        rows_per_file=args.rows_per_file,
    )
    manifest = export_tables(request, progress=_progress(args.quiet or args.json))
    if args.json:
        print_json({k: v for k, v in manifest.items() if k != "schema"})
        return 0
    lines = [f"exported {len(manifest['tables'])} table(s) to {manifest['directory']}"]
    for t in manifest["tables"]:
        size = sum(f["bytes"] for f in t["files"])
        where = t["files"][0]["path"] if len(t["files"]) == 1 else f"{len(t['files'])} files"
        lines.append(f"  {t['name']}: {t['rows']} rows, {where} ({size} bytes)")
    lines.append(f"manifest: {manifest['manifest']}")
    print_text("\n".join(lines))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from datamigration.confirmation import require_yes
    from datamigration.move.files.load import ImportRequest, import_action, import_tables

    ws = workspace_of(args)
    request = ImportRequest(
        directory=_directory(ws.root, args.directory),
        target=args.target,
        tables=csv_tuple(args.tables),
        workspace=str(ws.root),
        batch_size=args.batch_size,
        **load_options(args),
    )
    if not args.dry_run:
        require_yes(import_action(request, ws), args.yes)
    report = import_tables(request, progress=_progress(args.quiet or args.json))
    print_answer(args, report, render_import)
    if report["dry_run"]:
        return 0
    return 0 if report["passed"] else 1


def render_import(r: dict[str, Any]) -> str:
    lines = [f"verified {len(r['files_verified'])} file(s) of {r['directory']}"]
    if r["dry_run"]:
        lines.append(f"dry run: import into {r['target']}")
        for t in r["tables"]:
            lines.append(f"  {t['table']}: {t['rows']} rows by {', '.join(t['key'])}")
            lines += [f"    {stmt}" for stmt in t["ddl"]]
    else:
        verdict = "passed" if r["passed"] else "FAILED"
        lines.append(
            f"import {r['run_id']}: {r['rows_loaded']} rows loaded, {r['rejected']} rejected, "
            f"check {verdict}"
        )
        for v in r["validation"]:
            same = "checksum equal" if v["identical"] else "DIFFERENT"
            lines.append(f"  {v['table']}: {v['target_rows']}/{v['source_rows']} rows, {same}")
        if r["rejects_dir"]:
            lines.append(f"refused rows: {r['rejects_dir']}")
    return "\n".join(lines + conversion_lines(r["conversions"]))


def register(subparsers: argparse._SubParsersAction) -> None:
    from datamigration.move.files.export import DEFAULT_BATCH_SIZE
    from datamigration.move.files.formats import FORMATS

    p = subparsers.add_parser(
        "export", help="export tables to Parquet, CSV.gz or JSONL.gz files with a manifest"
    )
    p.add_argument("source", help="source database URL or connection name")
    p.add_argument("--tables", required=True, help="comma-separated tables")
    p.add_argument("--to", required=True, metavar="DIR", help="directory to write (new or empty)")
    p.add_argument("--format", choices=tuple(FORMATS), default="parquet")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="rows per batch")
    p.add_argument(
        "--rows-per-file",
        type=int,
        default=None,
        metavar="N",
        help="split each table into files of about N rows (default: one file per table)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    add_json_flag(p)
    p.set_defaults(func=cmd_export)

    p = subparsers.add_parser(
        "import", help="verify an export's manifest, then create and load its tables"
    )
    p.add_argument("directory", metavar="DIR", help="directory holding manifest.json")
    p.add_argument("target", help="target database URL or connection name")
    p.add_argument("--tables", help="comma-separated tables (default: all in the export)")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="rows per batch")
    add_load_flags(p, dry_run_help="verify and plan; load nothing")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    add_json_flag(p)
    p.set_defaults(func=cmd_import)
