"""Terminal twins of the validation tools: validate, diff, rules-from-schema, checksum, verify.

Each command parses its arguments, calls one function of `datamigration.validate`, and prints
the result (text for people, `--json` for scripts). Exit codes: 0 passed / identical / verified,
1 a validation failed, differences were found or a checksum did not match.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from datamigration.cli._common import (
    add_json_flag,
    csv_tuple,
    print_answer,
    print_json,
    print_text,
    workspace_of,
)
from datamigration.errors import UserInputError


def _map_pairs(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        src, sep, dst = item.partition("=")
        if not sep or not src or not dst:
            raise UserInputError(f"--map expects SRC=DST, got {item!r}", hint="e.g. --map id=_id")
        out[src.strip()] = dst.strip()
    return out


def _normalisation(args: argparse.Namespace) -> Any:
    from datamigration.validate.canonical import Normalisation

    data: dict[str, Any] = {}
    if args.timestamp_precision is not None:
        data["timestamp_precision"] = args.timestamp_precision
    if args.naive_timezone:
        data["naive_timezone"] = args.naive_timezone
    if args.nfc:
        data["unicode_nfc"] = True
    if args.missing_is_not_null:
        data["null_equals_missing"] = False
    return Normalisation.from_dict(data) if data else None


def cmd_diff(args: argparse.Namespace) -> int:
    from datamigration.validate.diff import DiffOptions, diff_tables

    ws = workspace_of(args)
    options = DiffOptions(
        key=csv_tuple(args.key),
        columns=csv_tuple(args.columns),
        field_map=_map_pairs(args.map),
        normalisation=_normalisation(args),
        max_keys=args.max_keys,
        lag_column=args.lag_column,
        lag_seconds=args.lag or 0.0,
        recheck_delay=args.recheck_delay,
        parallel=args.parallel,
    )
    report = diff_tables(args.src_url, args.src_table, args.dst_url, args.dst_table, options, ws)
    print_answer(args, report, render_diff_text)
    return 0 if report["identical"] else 1


def render_diff_text(r: dict[str, Any]) -> str:
    s, t = r["source"], r["target"]
    lines = [
        f"{s['table']} ({s['dialect']}, {s['rows']} rows) vs {t['table']} "
        f"({t['dialect']}, {t['rows']} rows) by {', '.join(r['key'])}: "
        + ("identical" if r["identical"] else "DIFFERENT")
        + f" in {r['seconds']} s",
        f"  missing in target: {r['missing_count']}  extra in target: {r['extra_count']}  "
        f"changed: {r['changed_count']}"
        + (f"  lagging: {r['lagging_count']}" if "lag" in r else ""),
    ]
    for label, items in (("missing", r["missing"]), ("extra", r["extra"])):
        if items:
            lines.append(f"  {label}: " + ", ".join(json.dumps(k) for k in items[:20]))
    for c in r["changed_fields"][:20]:
        lines.append(f"  changed {json.dumps(c['key'])}: {', '.join(c['fields'])}")
    for side in (s, t):
        if side["hashing_reason"]:
            lines.append(f"  note ({side['dialect']}): {side['hashing_reason']}")
    if r["truncated"]:
        lines.append("  (key lists truncated; raise --max-keys to see more)")
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "diff",
        help="checksum diff of a table across two databases (SQL or MongoDB)",
        description="Hash key segments on both sides in parallel, bisect where they differ, "
        "and list missing, extra and changed keys.",
    )
    p.add_argument("src_url")
    p.add_argument("src_table")
    p.add_argument("dst_url")
    p.add_argument("dst_table")
    p.add_argument(
        "--key",
        help="key column(s), comma-separated (default: the primary key; _id between MongoDB "
        "collections)",
    )
    p.add_argument("--columns", help="columns to compare, comma-separated (default: all)")
    p.add_argument("--map", action="append", metavar="SRC=DST", help="target name of a column")
    p.add_argument("--timestamp-precision", type=int, default=None, help="0..6 digits")
    p.add_argument("--naive-timezone", help="zone of timestamps without time zone (UTC)")
    p.add_argument("--nfc", action="store_true", help="NFC-normalise text before comparing")
    p.add_argument(
        "--missing-is-not-null", action="store_true", help="a missing field differs from null"
    )
    p.add_argument("--lag", type=float, help="lag-aware: set aside rows changed in N seconds")
    p.add_argument("--lag-column", default=None, help="the updated_at-style column for --lag")
    p.add_argument("--recheck-delay", type=float, default=1.0, help="seconds before re-checking")
    p.add_argument("--max-keys", type=int, default=1000, help="cap on listed keys")
    p.add_argument("--parallel", type=int, default=2, help="connections per side")
    add_json_flag(p)
    p.set_defaults(func=cmd_diff)
    _register_more(subparsers)


def cmd_validate(args: argparse.Namespace) -> int:
    from datamigration.validate.report import validate_file

    ws = workspace_of(args)
    out = validate_file(ws, args.rules, story=args.story, source=args.source, target=args.target)
    if args.json:
        print_json(out)
        return 0 if out["passed"] else 1
    for r in out["results"]:
        mark = "ok  " if r["passed"] else "FAIL"
        print_text(f"{mark} {r['id']}: {r['message']}")
        if not r["passed"] and r["offending"]:
            print_text(
                "       e.g. " + ", ".join(json.dumps(k, default=str) for k in r["offending"][:5])
            )
    print_text(out["summary"])
    for note in out.get("notes") or []:
        print_text(f"note: {note}")
    print_text(f"report: {out['report_markdown']}")
    if out["story"]:
        print_text(f"{out['story']}: test_status = {out['test_status']}")
    return 0 if out["passed"] else 1


def cmd_rules_from_schema(args: argparse.Namespace) -> int:
    from datamigration.validate import generate

    ws = workspace_of(args)
    doc = generate.rules_from_schema(
        args.url, args.table, target_url=args.target, target_table=args.target_table, workspace=ws
    )
    note = generate.password_note(doc)
    if not args.output:
        print_text(generate.render_rules(doc, ".json" if args.json else ".yaml").rstrip("\n"))
        if note:
            sys.stderr.write(f"note: {note}\n")
        return 0
    written = generate.write_rules_file(ws, args.output, doc, overwrite=args.overwrite)
    if args.json:
        print_json({"path": written, "rules": len(doc["rules"]), "content": doc, "note": note})
    else:
        print_text(
            f"wrote {len(doc['rules'])} rules to {written}; edit, then run "
            f"datamigration validate {written}" + (f"\n{note}" if note else "")
        )
    return 0


def cmd_checksum(args: argparse.Namespace) -> int:
    from pathlib import Path

    from datamigration.validate.filesums import write_checksum

    written = [str(write_checksum(Path(f))) for f in args.files]
    if args.json:
        print_json({"written": written})
    else:
        for w in written:
            print_text(f"wrote {w}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from datamigration.validate.filesums import verify_checksums

    checks = [c for f in args.files for c in verify_checksums(Path(f))]
    ok = all(c.ok for c in checks)
    if args.json:
        print_json({"ok": ok, "files": [dataclasses.asdict(c) for c in checks]})
    else:
        for c in checks:
            print_text(f"{c.path}: {'OK' if c.ok else 'FAILED: ' + c.problem}")
    return 0 if ok else 1


def _register_more(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "validate",
        help="run a validation rules file; write the report; record it on a story",
        description="Run every rule of RULES_FILE, write JSON + markdown reports under "
        "docs/validation/, and with --story record passing/failing on that story.",
    )
    p.add_argument("rules", metavar="RULES_FILE")
    p.add_argument("--story", help="story id to record the verdict on (e.g. US-0042)")
    p.add_argument("--source", help="override the rules file's source database")
    p.add_argument("--target", help="override the rules file's target database")
    add_json_flag(p)
    p.set_defaults(func=cmd_validate)

    p = subparsers.add_parser(
        "rules-from-schema",
        help="generate validation rules for a table from its schema",
    )
    p.add_argument("url")
    p.add_argument("table")
    p.add_argument("--target", help="target database (adds count, schema and checksum rules)")
    p.add_argument("--target-table", help="target table name when it differs")
    p.add_argument(
        "-o",
        "--output",
        help="write the rules file here (inside the workspace; .json for JSON, else YAML)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing rules file with other content (it may hold hand edits)",
    )
    add_json_flag(p)
    p.set_defaults(func=cmd_rules_from_schema)

    p = subparsers.add_parser("checksum", help="write FILE.sha256 next to export files")
    p.add_argument("files", nargs="+", metavar="FILE")
    add_json_flag(p)
    p.set_defaults(func=cmd_checksum)

    p = subparsers.add_parser("verify", help="check export files against their .sha256 files")
    p.add_argument("files", nargs="+", metavar="FILE.sha256")
    add_json_flag(p)
    p.set_defaults(func=cmd_verify)
