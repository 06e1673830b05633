"""The detached sync process: `python -m datamigration.move.sync.daemon --workspace W --run R`.

It reads the run's request from `.datamigration/sync/<run>/request.json` (written by
`sync start --detach`; connection names or `${VAR}` URLs, expanded here from the
environment it inherited), runs `start_sync` until the state row says `stopping` or a
SIGTERM arrives, and logs one line per second of progress to its log file.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from typing import Any


def main(argv: list[str] | None = None) -> int:
    from datamigration.errors import DataMigrationError
    from datamigration.move.sync.control import RunFiles
    from datamigration.move.sync.runner import start_sync
    from datamigration.workspace.root import Workspace

    parser = argparse.ArgumentParser(prog="datamigration.move.sync.daemon")
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--run", required=True)
    args = parser.parse_args(argv)
    ws = Workspace.open(args.workspace)
    files = RunFiles(ws, args.run)
    request = files.spec()
    if request is None:
        print(f"no request for run {args.run}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    last = [0.0]

    def progress(event: str, data: dict[str, Any]) -> None:
        now = time.monotonic()
        if event != "batch" or now - last[0] >= 1.0:
            last[0] = now
            print(json.dumps({"event": event, **data}, default=str), flush=True)

    try:
        start_sync(request, progress=progress, stop_when=lambda status: stop.is_set())
    except DataMigrationError as exc:
        print(json.dumps({"event": "failed", "error": exc.message, "hint": exc.hint}), flush=True)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
