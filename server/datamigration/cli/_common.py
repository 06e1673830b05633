"""Helpers shared by the CLI command modules: opening the workspace and printing results."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from datamigration.redact import redact_text
from datamigration.workspace.root import Workspace


def workspace_of(args: argparse.Namespace) -> Workspace:
    """The workspace named by the global --workspace flag (or environment, or cwd)."""
    return Workspace.open(getattr(args, "workspace", None))


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def print_json(data: Any) -> None:
    """JSON on stdout, secrets redacted, stable key order for diffs and tests."""
    text = json.dumps(data, indent=2, sort_keys=True, default=str, ensure_ascii=False)
    sys.stdout.write(redact_text(text) + "\n")


def print_text(text: str) -> None:
    sys.stdout.write(redact_text(text).rstrip("\n") + "\n")


def print_answer(args: argparse.Namespace, answer: Any, render: Callable[[Any], str]) -> None:
    """The answer as JSON with --json, else as the text `render` makes of it."""
    if args.json:
        print_json(answer)
    else:
        print_text(render(answer))


def csv_tuple(text: str | None) -> tuple[str, ...]:
    """`a, b,,c` -> ("a", "b", "c"); None or blank -> ()."""
    return tuple(p.strip() for p in (text or "").split(",") if p.strip())


def add_load_flags(parser: argparse.ArgumentParser, dry_run_help: str) -> None:
    """The flags of a command that writes rows into a target (copy, import)."""
    parser.add_argument("--dry-run", action="store_true", help=dry_run_help)
    parser.add_argument("--yes", action="store_true", help="confirm: write to the target")
    parser.add_argument(
        "--accept-conversions",
        action="store_true",
        help="accept the listed type conversions that do not keep values exactly",
    )
    parser.add_argument("--truncate", action="store_true", help="empty target tables holding rows")
    parser.add_argument("--strict", action="store_true", help="stop at the first refused row")


def load_options(args: argparse.Namespace) -> dict[str, bool]:
    """The request fields the flags of `add_load_flags` set."""
    return {
        "dry_run": args.dry_run,
        "accept_conversions": args.accept_conversions,
        "truncate": args.truncate,
        "strict": args.strict,
    }


def validated_line(v: dict[str, Any]) -> str:
    """One table's check after a load: `  users: 500/500 rows, identical`."""
    verdict = "identical" if v["identical"] else "DIFFERENT"
    return f"  {v['table']}: {v['target_rows']}/{v['source_rows']} rows, {verdict}"


def conversion_lines(conversions: list[dict[str, Any]]) -> list[str]:
    """The type conversions a load makes that do not keep values exactly, one a line."""
    return [
        f"  conversion {c['table']}.{c['column']}: {c['source']} -> {c['target']} ({c['reason']})"
        for c in conversions
    ]
