"""The terminal face: `datamigration <command>`, a thin twin of every MCP tool.

Each module in this package exposes `register(subparsers)`, adding its commands with
`set_defaults(func=...)`; the function takes the parsed args and returns an exit code. Modules are
discovered, so adding a command never touches this file. User errors print the message and the
hint, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

from datamigration import __version__
from datamigration.errors import DataMigrationError
from datamigration.redact import redact_text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="datamigration",
        description="AG-DATAMIGRATION: plan, run, validate and roll back zero-downtime migrations.",
    )
    parser.add_argument("--version", action="version", version=f"datamigration {__version__}")
    parser.add_argument(
        "--workspace",
        default=None,
        help="workspace root (default: $DATAMIGRATION_WORKSPACE or the current directory)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except DataMigrationError as exc:
        print(redact_text(f"error: {exc.render()}"), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `datamigration bus | head`: the reader left; that is not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
