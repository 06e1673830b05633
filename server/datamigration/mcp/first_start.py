"""The server's opening answers, recorded for the plugin's first start (issue 10, item 14).

On a plugin's first start the environment is still being built, yet Claude Code wants the
`initialize` answer and the tool list within seconds (`claude mcp list` reports "tools fetch
failed" otherwise). bin/first-start.py, which needs only the standard library, answers them from
`datamigration/data/first-start.json`: the exact JSON `datamigration serve` sends for
`initialize`, `tools/list`, `prompts/list`, `resources/list` and `resources/templates/list`,
recorded over stdio by this module. A test compares the file with a fresh recording; after a
change to a tool, prompt or resource, record it again:

    python -m datamigration.mcp.first_start
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

#: The listings recorded; their answers do not depend on the workspace or protocol revision.
LISTINGS = ("tools/list", "prompts/list", "resources/list", "resources/templates/list")
RECORD = Path(str(resources.files("datamigration").joinpath("data", "first-start.json")))
SERVE = "import sys; from datamigration.cli import main; sys.exit(main(sys.argv[1:]))"


def record(protocol_version: str = "2025-06-18", timeout: float = 60.0) -> dict[str, Any]:
    """Run `datamigration serve` on an empty workspace and keep its answers, as sent."""
    requests: list[dict[str, Any]] = [
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": protocol_version,
                "capabilities": {},
                "clientInfo": {"name": "datamigration-first-start", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
    ]
    requests += [{"jsonrpc": "2.0", "id": n, "method": m} for n, m in enumerate(LISTINGS, 1)]
    stdin = "".join(json.dumps(r) + "\n" for r in requests)
    with tempfile.TemporaryDirectory(prefix="dm-first-start-") as workspace:
        # stdin stays open until every answer is in: the server ends at end of input.
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVE, "serve", "--workspace", workspace],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(stdin)
        proc.stdin.flush()
        answers: dict[int, Any] = {}
        try:
            for line in proc.stdout:
                message = json.loads(line)
                if "id" in message:
                    answers[message["id"]] = message.get("result", message.get("error"))
                if len(answers) == len(LISTINGS) + 1:
                    break
        finally:
            proc.stdin.close()
            proc.wait(timeout)
    initialize = dict(answers[0])
    initialize.pop("protocolVersion", None)
    return {"initialize": initialize} | {m: answers[n] for n, m in enumerate(LISTINGS, 1)}


def main() -> int:
    RECORD.write_text(json.dumps(record(), sort_keys=True, separators=(",", ":")) + "\n")
    print(f"recorded {RECORD}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
