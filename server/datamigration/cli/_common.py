"""Helpers shared by the CLI command modules: opening the workspace and printing results."""

from __future__ import annotations

import argparse
import json
import sys
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
