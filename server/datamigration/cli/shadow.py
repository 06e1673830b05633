"""Terminal twin of the shadow_reads tool: `datamigration shadow SRC DST --tables users`.

Parses the flags into a `validate.shadow.run.ShadowRequest`, runs it and prints the figures
(text, or `--json`). Only reads both databases; writes the report under docs/validation/.
Exit codes: 0 the gate passed, 1 it failed, others as every command (2 input, 5 database).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from datamigration.cli._common import add_json_flag, csv_tuple, print_answer, workspace_of
from datamigration.cli.validate import _map_pairs


def cmd_shadow(args: argparse.Namespace) -> int:
    from datamigration.validate.shadow.run import ShadowRequest, shadow_reads
    from datamigration.validate.shadow.tally import Gate

    request = ShadowRequest(
        source=args.src_url,
        target=args.dst_url,
        tables=csv_tuple(args.tables),
        target_table=args.target_table,
        key=csv_tuple(args.key),
        field_map=_map_pairs(args.map),
        mapping_file=args.mapping,
        sample=args.sample,
        seed=args.seed,
        queries_file=args.queries,
        pg_top=args.from_pg_stat_statements or 0,
        gate=Gate(args.max_mismatches, args.min_reads),
        name=args.name,
    )
    report = shadow_reads(workspace_of(args), request)
    print_answer(args, report, render_text)
    return 0 if report["passed"] else 1


def render_text(r: dict[str, Any]) -> str:
    lines = [
        f"shadow reads {r['source']} vs {r['target']}: "
        + ("PASSED" if r["passed"] else "FAILED")
        + f" ({r['verdict']}) in {r['seconds']} s",
        (
            f"  reads: {r['reads']:,}  mismatches: {r['mismatches']:,}  "
            f"rate: {r['mismatch_rate']:.4%}  seed: {r['seed']}"
        ),
    ]
    lines += [f"  {p['what']}: {p['reads']:,} reads, {p['mismatches']:,} mismatches"
              for p in r["parts"]]  # fmt: skip
    for e in r["examples"]:
        lines.append(
            f"  example {e['where']} key {json.dumps(e['key'], default=str)} {e['column']}: "
            f"{json.dumps(e['source'], default=str)} != {json.dumps(e['target'], default=str)}"
        )
    lines += [f"  skipped {s['what'][:60]!r}: {s['why']}" for s in r["skipped"][:10]]
    lines += [f"  note: {n}" for n in r["notes"]]
    if r.get("report_json"):
        lines.append(f"  report: {r['report_json']}")
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "shadow",
        help="shadow reads: replay sampled reads on both sides and compare (a gate)",
        description="Read a spread sample of keys (and/or the application's queries) on both "
        "databases, compare the results value by value, report mismatches and apply the gate.",
    )
    p.add_argument("src_url")
    p.add_argument("dst_url")
    p.add_argument("--tables", help="tables read by key, comma-separated")
    p.add_argument("--target-table", help="the one table's name on the target (default: same)")
    p.add_argument("--key", help="key column(s), comma-separated (default: the primary key)")
    p.add_argument("--map", action="append", metavar="SRC=DST", help="target name of a column")
    p.add_argument("--mapping", help="document mapping file (SQL -> MongoDB)")
    p.add_argument("--sample", type=int, default=10_000, help="keys read per table (10000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the key sample (0)")
    p.add_argument("--queries", help="SQL file of read queries, `;` after each")
    p.add_argument(
        "--from-pg-stat-statements", type=int, metavar="N", help="replay the N most called reads"
    )
    p.add_argument("--max-mismatches", type=int, default=0, help="gate: mismatches allowed (0)")
    p.add_argument("--min-reads", type=int, default=0, help="gate: reads needed (0)")
    p.add_argument("--name", help="report name (docs/validation/shadow-NAME.json)")
    add_json_flag(p)
    p.set_defaults(func=cmd_shadow)
