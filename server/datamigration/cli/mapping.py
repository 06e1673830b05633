"""`datamigration mapping suggest | check | diff`: relational-to-document mappings.

`suggest SRC --root users` proposes a mapping from the foreign keys (children embedded as
arrays, parents kept as references); `check SRC FILE` resolves a mapping file against the
source schema and prints where every table's rows go (and, with --json, the collection
validators); `diff SRC DST FILE` compares each mapped table with the documents or arrays that
hold its rows (exit 1 when they differ). The copy itself is `datamigration copy --mapping FILE`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from datamigration.cli._common import add_json_flag, print_json, print_text, workspace_of


def cmd_suggest(args: argparse.Namespace) -> int:
    from datamigration.atomic import atomic_write
    from datamigration.move.suggest import suggest_for

    mapping = suggest_for(
        args.source,
        args.root,
        workspace=workspace_of(args),
        collection=args.collection,
        embed_parents=args.embed_parents,
        limit=args.limit,
    )
    text = json.dumps(mapping, indent=2) + "\n"
    if args.out:
        atomic_write(Path(args.out), text)
        print_text(f"wrote {args.out}")
    else:
        print_text(text)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from datamigration.move.collection_setup import setup_operations
    from datamigration.move.mapping import describe, mapping_for

    mapping, schema = mapping_for(args.source, args.file, workspace_of(args))
    if args.json:
        out = []
        for cm in mapping.collections:
            ops, notes = setup_operations(cm, schema)
            out.append({"collection": cm.collection, "setup": ops, "notes": notes})
        print_json({"fingerprint": mapping.fingerprint, "collections": out})
    else:
        print_text("\n".join([*describe(mapping), f"fingerprint {mapping.fingerprint}"]))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from datamigration.move.mapped_diff import diff_mapped
    from datamigration.move.mapping import mapping_for
    from datamigration.validate.diff import DiffOptions

    ws = workspace_of(args)
    mapping, _ = mapping_for(args.source, args.file, ws)
    report = diff_mapped(args.source, args.target, mapping, DiffOptions(max_keys=args.max_keys), ws)
    if args.json:
        print_json(report)
    else:
        print_text(render_mapped_diff(report))
    return 0 if report["identical"] else 1


def render_mapped_diff(report: dict) -> str:
    lines = []
    for t in report["tables"]:
        where = f"{t['collection']}{'.' + t['path'] if t['path'] else ''}"
        if not t["compared"]:
            lines.append(f"{t['table']} -> {where}: not compared ({t['reason']})")
            continue
        verdict = "identical" if t["identical"] else "DIFFERENT"
        lines.append(
            f"{t['table']} -> {where}: {t['source']['rows']} rows vs {t['target']['rows']}: "
            f"{verdict} (missing {t['missing_count']}, extra {t['extra_count']}, "
            f"changed {t['changed_count']})"
        )
        for c in t["changed_fields"][:10]:
            lines.append(f"  changed {json.dumps(c['key'])}: {', '.join(c['fields'])}")
        for label in ("missing", "extra"):
            if t[label]:
                lines.append(f"  {label}: " + ", ".join(json.dumps(k) for k in t[label][:20]))
    lines.append("identical" if report["identical"] else "DIFFERENT")
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "mapping",
        help="relational-to-document mappings for MongoDB targets (suggest, check, diff)",
        description="Propose, check and verify a mapping of tables to MongoDB documents "
        "(embedded arrays, embedded documents, references, _id strategies).",
    )
    sub = p.add_subparsers(dest="mapping_command", metavar="ACTION", required=True)
    s = sub.add_parser("suggest", help="propose a mapping from the foreign keys")
    s.add_argument("source", metavar="SRC", help="source database URL or connection name")
    s.add_argument("--root", required=True, help="the table whose rows become documents")
    s.add_argument("--collection", help="collection name (default: the root table's)")
    s.add_argument("--embed-parents", action="store_true", help="embed parent rows as documents")
    s.add_argument("--limit", type=int, help="keep at most N child rows per embedded array")
    s.add_argument("--out", metavar="FILE", help="write the mapping here (default: print)")
    s.set_defaults(func=cmd_suggest)
    c = sub.add_parser("check", help="resolve a mapping file against the source schema")
    c.add_argument("source", metavar="SRC")
    c.add_argument("file", metavar="FILE", help="mapping file (JSON or YAML)")
    add_json_flag(c)
    c.set_defaults(func=cmd_check)
    d = sub.add_parser("diff", help="compare each mapped table with its documents/arrays")
    d.add_argument("source", metavar="SRC")
    d.add_argument("target", metavar="DST", help="the MongoDB database")
    d.add_argument("file", metavar="FILE", help="mapping file (JSON or YAML)")
    d.add_argument("--max-keys", type=int, default=1000, help="cap on listed keys")
    add_json_flag(d)
    d.set_defaults(func=cmd_diff)
