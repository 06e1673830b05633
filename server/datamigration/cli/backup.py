"""Terminal twins of the `backup` tool: take a backup proven restorable, verify one, list them.

`datamigration backup DB [--tables T ...]` dumps the database (or the chosen tables), checksums
the files, restores them into a scratch database and compares it with the source; exit 0 when
verified, 1 when the restore test failed. `datamigration backup --verify ID [--db DB]` checks an
existing backup's files and restore-tests it again. `datamigration backups` lists them.
"""

from __future__ import annotations

import argparse
from typing import Any

from datamigration.cli._common import (
    add_json_flag,
    print_answer,
    print_json,
    print_text,
    workspace_of,
)
from datamigration.errors import UserInputError


def _render(out: dict[str, Any]) -> str:
    test = out["restore_test"]
    verdict = "VERIFIED" if out["verified"] else f"NOT VERIFIED ({test.get('stage')})"
    lines = [
        f"backup {out['id']} of {out['database']}: {verdict}",
        (
            f"  {len(out['tables'])} table(s), {out['rows']} rows, {out['bytes']} bytes in "
            f"{len(out['files'])} file(s) under {out['path']}"
        ),
    ]
    for t in test.get("tables", []):
        how = t.get("checksum", "counts only (no key)")
        lines.append(f"  {t['table']}: {t.get('source_rows')} rows, restored "
                     f"{t.get('restored_rows')}, {how}")  # fmt: skip
    if test.get("restore_seconds") is not None:
        lines.append(f"  restore test: restored in {test['restore_seconds']} s, compared in "
                     f"{test.get('compare_seconds', 0)} s")  # fmt: skip
    if test.get("error"):
        lines.append(f"  problem: {test['error']}")
    return "\n".join(lines)


def cmd_backup(args: argparse.Namespace) -> int:
    from datamigration.safety.backup.take import take_backup, verify_backup

    ws = workspace_of(args)

    def say(message: str) -> None:
        if not args.json:
            print_text(message + " ...")

    if args.verify:
        if args.tables:
            raise UserInputError("--verify checks an existing backup; it takes no --tables",
                                 hint="Drop --tables, or take a new backup without --verify.")  # fmt: skip
        out = verify_backup(ws, args.verify, args.db, progress=say)
    elif args.db:
        out = take_backup(ws, args.db, args.tables or None, progress=say)
    else:
        raise UserInputError("which database? give DB, or --verify ID",
                             hint="e.g. datamigration backup app --tables users")  # fmt: skip
    print_answer(args, out, _render)
    return 0 if out["verified"] else 1


def cmd_backups(args: argparse.Namespace) -> int:
    from datamigration.safety.backup.manifest import list_backups

    out = list_backups(workspace_of(args), limit=args.limit)
    if args.json:
        print_json(out)
        return 0
    if not out["backups"]:
        print_text(f"no backups in {out['dir']}")
    for b in out["backups"]:
        state = "verified" if b["verified"] else "NOT verified"
        print_text(f"{b['id']}  {b['database']}  {', '.join(b['tables'])}  {b['rows']} rows  "
                   f"{state}" + (f" ({b['problem']})" if b.get("problem") else ""))  # fmt: skip
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "backup",
        help="back up a database and prove it restores (restore test + comparison)",
        description="Dump DB (or --tables), checksum the files, restore them into a scratch "
        "database, compare it with the source (counts + checksum diff), drop the scratch and "
        "write the manifest under .datamigration/backups/<id>/. With --verify ID, check an "
        "existing backup's files and restore-test it again.",
    )
    p.add_argument("db", nargs="?", metavar="DB", help="database URL or connection name")
    p.add_argument("--tables", nargs="+", metavar="TABLE", help="only these tables/collections")
    p.add_argument("--verify", metavar="ID", help="verify this backup again instead")
    p.add_argument(
        "--db",
        dest="db_opt",
        help="the database (same as DB; with --verify, when the manifest's URL lacks its password)",
    )
    add_json_flag(p)
    p.set_defaults(func=_backup_entry)

    ls = subparsers.add_parser("backups", help="list backups, newest first, with their verdict")
    ls.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    add_json_flag(ls)
    ls.set_defaults(func=cmd_backups)


def _backup_entry(args: argparse.Namespace) -> int:
    """DB may come positionally or as --db (the form the executor's hints and --verify use)."""
    if args.db and args.db_opt and args.db != args.db_opt:
        raise UserInputError("two different databases given", hint="Give the database once.")
    args.db = args.db or args.db_opt
    return cmd_backup(args)
