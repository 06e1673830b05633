"""CLI twins of the workspace tools: read, write, edit, glob, grep, run, migrations.

Each command calls the same engine function as its MCP tool, so the confinement rules and the
run policy are identical on both faces. Confirmation is `--yes` here (for `run` outside the
allow-list and for changes to datamigration.toml).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from datamigration.cli._common import add_json_flag, print_json, print_text, workspace_of
from datamigration.errors import UserInputError
from datamigration.redact import redact_text
from datamigration.workspace import files, frameworks, runner, search

#: Exit code for a command killed by the timeout (the same as coreutils `timeout`).
EXIT_TIMEOUT = 124


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("read", help="print a text file of the workspace (paged by line)")
    p.add_argument("path")
    p.add_argument("--offset", type=int, default=1, help="first line (1-based)")
    p.add_argument("--limit", type=int, default=None, help="most lines to print")
    add_json_flag(p)
    p.set_defaults(func=cmd_read)

    p = subparsers.add_parser("write", help="create or overwrite a file atomically")
    p.add_argument("path")
    p.add_argument("--content", default=None, help="the new content (default: read stdin)")
    p.add_argument("--yes", action="store_true", help="confirm changing datamigration.toml")
    add_json_flag(p)
    p.set_defaults(func=cmd_write)

    p = subparsers.add_parser("edit", help="replace exact text in a file (unique match)")
    p.add_argument("path")
    p.add_argument("--old", required=True, help="exact text to replace")
    p.add_argument("--new", required=True, help="replacement text")
    p.add_argument("--all", action="store_true", help="replace every occurrence")
    p.add_argument("--yes", action="store_true", help="confirm changing datamigration.toml")
    add_json_flag(p)
    p.set_defaults(func=cmd_edit)

    p = subparsers.add_parser("glob", help="list files matching a glob pattern")
    p.add_argument("pattern")
    p.add_argument("--base", default=".", help="directory to search from")
    p.add_argument("--limit", type=int, default=search.DEFAULT_GLOB_LIMIT)
    add_json_flag(p)
    p.set_defaults(func=cmd_glob)

    p = subparsers.add_parser("grep", help="search text files for a regular expression")
    p.add_argument("regex")
    p.add_argument("path", nargs="?", default=".", help="file or directory (default: root)")
    p.add_argument("--glob", default=None, help="only files matching this glob, e.g. '*.sql'")
    p.add_argument("-i", "--ignore-case", action="store_true")
    p.add_argument("-l", "--files-only", action="store_true", help="print matching file names")
    p.add_argument("--limit", type=int, default=search.DEFAULT_GREP_LIMIT)
    add_json_flag(p)
    p.set_defaults(func=cmd_grep)

    p = subparsers.add_parser(
        "run",
        help="run a command in the workspace (allow-list policy, timeout, output cap)",
        description="Run CMD without a shell in the workspace root. Commands outside the [run] "
        "allow-list of datamigration.toml, and listed ones that can execute workspace code "
        "(pytest, alembic, your own entries), need --yes.",
    )
    p.add_argument(
        "--yes", action="store_true", help="confirm a command that is not read-only and listed"
    )
    p.add_argument("--timeout", type=float, default=None, help="seconds before it is killed")
    p.add_argument("--shell", action="store_true", help="run CMD through bash -c (needs --yes)")
    add_json_flag(p)
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD ...")
    p.set_defaults(func=cmd_run)

    p = subparsers.add_parser("migrations", help="list the migration folders and their framework")
    add_json_flag(p)
    p.set_defaults(func=cmd_migrations)


def cmd_read(args: argparse.Namespace) -> int:
    result = files.read_file(workspace_of(args), args.path, offset=args.offset, limit=args.limit)
    if args.json:
        print_json(dataclasses.asdict(result))
        return 0
    sys.stdout.write(redact_text(result.content))
    if result.truncated:
        print(
            f"[truncated: lines {result.start_line}-{result.end_line} of {result.total_lines}; "
            f"continue with --offset {result.end_line + 1}]",
            file=sys.stderr,
        )
    return 0


def cmd_write(args: argparse.Namespace) -> int:
    content = args.content if args.content is not None else sys.stdin.read()
    result = files.write_file(workspace_of(args), args.path, content, confirmed=args.yes)
    if args.json:
        print_json(dataclasses.asdict(result))
    else:
        verb = "created" if result.created else "wrote"
        print_text(f"{verb} {result.path} ({result.bytes_written} bytes)")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    result = files.edit_file(
        workspace_of(args), args.path, args.old, args.new, replace_all=args.all, confirmed=args.yes
    )
    if args.json:
        print_json(dataclasses.asdict(result))
    else:
        print_text(f"edited {result.path}: {result.replacements} replacement(s)")
    return 0


def cmd_glob(args: argparse.Namespace) -> int:
    result = search.glob_files(workspace_of(args), args.pattern, base=args.base, limit=args.limit)
    if args.json:
        print_json(dataclasses.asdict(result))
        return 0
    for path in result.files:
        print_text(path)
    if result.truncated:
        print(f"[truncated at {len(result.files)} files; raise --limit]", file=sys.stderr)
    return 0


def cmd_grep(args: argparse.Namespace) -> int:
    result = search.grep_files(
        workspace_of(args),
        args.regex,
        path=args.path,
        glob=args.glob,
        ignore_case=args.ignore_case,
        limit=args.limit,
        files_only=args.files_only,
    )
    if args.json:
        print_json(dataclasses.asdict(result))
        return 0
    if args.files_only:
        for path in result.files_matched:
            print_text(path)
    else:
        for m in result.matches:
            print_text(f"{m.path}:{m.line}:{m.text}")
    if result.truncated:
        print("[truncated; raise --limit or narrow the search]", file=sys.stderr)
    # grep's convention: 0 found, 1 nothing found (errors raise and exit 2).
    return 0 if result.files_matched else 1


def cmd_run(args: argparse.Namespace) -> int:
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise UserInputError("no command given", hint="Usage: datamigration run [--yes] -- CMD ...")
    command: str | list[str] = " ".join(cmd) if args.shell else cmd
    result = runner.run_command(
        workspace_of(args), command, shell=args.shell, timeout=args.timeout, confirmed=args.yes
    )
    if args.json:
        print_json(dataclasses.asdict(result))
    else:
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        if result.timed_out:
            print(f"[killed after the timeout ({result.duration_s:.1f}s)]", file=sys.stderr)
        if result.truncated:
            print("[output truncated: the middle was left out]", file=sys.stderr)
    if result.timed_out:
        return EXIT_TIMEOUT
    return result.exit_code or 0


def cmd_migrations(args: argparse.Namespace) -> int:
    sets = frameworks.detect_migrations(workspace_of(args))
    if args.json:
        print_json([dataclasses.asdict(s) for s in sets])
        return 0
    if not sets:
        print_text("no migration folders found")
        return 0
    for s in sets:
        config = f"  (config: {s.config})" if s.config else ""
        print_text(f"{s.framework:<8} {s.directory}  {len(s.files)} file(s){config}")
    return 0
