"""`datamigration inspect | query | connections`: the terminal twins of the database tools.

`inspect URL` prints a compact schema summary (`--table T` for one table in full); `query URL
"SQL"` runs one read-only statement (the database enforces it) and exits non-zero when the
query is refused or fails (MongoDB documents are printed as JSON, one per line, never cut); `connections` lists the names configured in datamigration.toml with
their URLs redacted. URL arguments may be configured names.
"""

from __future__ import annotations

import argparse
import json
import sys

from datamigration.cli._common import add_json_flag, print_json, print_text, workspace_of
from datamigration.db import connect
from datamigration.db.base import inspect_schema
from datamigration.db.summary import (
    DEFAULT_MAX_TABLES,
    render_table_text,
    render_text,
    summarize,
    table_detail,
)
from datamigration.db.urls import list_connections


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "inspect",
        help="summarize a database's schema (tables, keys, indexes, sizes)",
        description="Introspect a database (URL or name from [connections]) into a compact "
        "summary; --table shows one table in full.",
    )
    p.add_argument("database", metavar="URL", help="database URL or configured connection name")
    p.add_argument(
        "--table",
        action="append",
        default=[],
        metavar="T",
        help="show this table in full (repeatable)",
    )
    p.add_argument("--exact-counts", action="store_true", help="count rows exactly (slower)")
    p.add_argument(
        "--sample-size",
        type=int,
        default=None,
        metavar="N",
        help="MongoDB: documents sampled per collection to infer its fields (default 1000, "
        "or the connection's sample_size; 0 skips sampling)",
    )
    p.add_argument(
        "--max-tables",
        type=int,
        default=DEFAULT_MAX_TABLES,
        metavar="N",
        help=f"cap the summary at N tables (default {DEFAULT_MAX_TABLES})",
    )
    add_json_flag(p)
    p.set_defaults(func=run_inspect)

    q = subparsers.add_parser(
        "query",
        help="run one read-only SQL statement (enforced by the database)",
        description="Run one read-only statement; it is always rolled back. Exit code 5 when "
        "the database refuses or fails it.",
    )
    q.add_argument("database", metavar="URL", help="database URL or configured connection name")
    q.add_argument(
        "sql",
        metavar="SQL",
        help="one statement (SELECT, WITH, SHOW, EXPLAIN, ...); for MongoDB a JSON "
        'find/aggregate/count command such as \'{"find": "users", "limit": 5}\'',
    )
    q.add_argument("--max-rows", type=int, default=100, metavar="N")
    q.add_argument("--timeout-ms", type=int, default=10_000, metavar="MS")
    add_json_flag(q)
    q.set_defaults(func=run_query)

    c = subparsers.add_parser(
        "connections",
        help="list the database connections configured in datamigration.toml (redacted)",
    )
    add_json_flag(c)
    c.set_defaults(func=run_connections)


def run_inspect(args: argparse.Namespace) -> int:
    workspace = workspace_of(args)
    with connect(args.database, workspace) as db:
        schema = inspect_schema(
            db,
            tables=args.table or None,
            exact_counts=args.exact_counts,
            sample_size=args.sample_size,
        )
    if args.table:
        details = [table_detail(schema, name) for name in args.table]
        if args.json:
            print_json({"tables": details, "truncated": False})
        else:
            print_text("\n\n".join(render_table_text(d) for d in details))
        return 0
    summary = summarize(schema, max_tables=args.max_tables)
    if args.json:
        print_json(summary)
    else:
        print_text(render_text(summary))
    return 0


def run_query(args: argparse.Namespace) -> int:
    workspace = workspace_of(args)
    with connect(args.database, workspace) as db:
        result = db.query(args.sql, max_rows=args.max_rows, timeout_ms=args.timeout_ms)
    if args.json:
        print_json(result.to_dict())
        return 0
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    footer = f"({result.row_count} rows{', truncated' if result.truncated else ''}; untrusted data)"
    if db.documents and result.columns == ("document",):
        # Documents are nested and long: a table cell would cut them. One JSON line each.
        lines = [json.dumps(row[0], ensure_ascii=False, default=str) for row in result.rows]
        print_text("\n".join([*lines, footer]))
        return 0
    widths = [len(c) for c in result.columns]
    cells = [[_cell(v) for v in row] for row in result.rows]
    for row in cells:
        widths = [min(max(w, len(v)), 60) for w, v in zip(widths, row, strict=False)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(result.columns, widths, strict=False))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [
        " | ".join(_clip(v).ljust(w) for v, w in zip(row, widths, strict=False)) for row in cells
    ]
    lines.append(footer)
    print_text("\n".join(lines))
    return 0


def _clip(text: str, width: int = 60) -> str:
    """A table cell cut to `width`, visibly (--json prints every value whole)."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def run_connections(args: argparse.Namespace) -> int:
    rows = list_connections(workspace_of(args))
    if args.json:
        print_json({"connections": rows})
    elif not rows:
        print_text("no connections configured (add [connections] to datamigration.toml)")
    else:
        print_text(
            "\n".join(
                f"{r['name']}: {r['url']}"
                + (f"  (needs {', '.join(r['missing_env'])})" if r["missing_env"] else "")
                for r in rows
            )
        )
    return 0
