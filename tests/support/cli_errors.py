"""The CLI said no the way it should: exit 2, the message and a hint, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from datamigration.cli import main as cli_main


def cli(ws: Path, *args: str) -> int:
    """`datamigration --workspace WS ARGS...` in this process; its exit code."""
    return cli_main(["--workspace", str(ws), *args])


def refused(capsys: pytest.CaptureFixture[str], rc: int) -> str:
    """Exit 2, message and hint, no traceback; the error text."""
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("error: ") and "\nhint: " in err and "Traceback" not in err
    return err
