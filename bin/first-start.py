"""First start of the plugin's MCP server: answer the handshake now, install, then hand over.

bin/datamigration-mcp runs this (standard library only, any Python 3.11+) when `serve` is asked
for and the environment is not installed yet. Building the environment takes seconds with uv and
about half a minute with pip; Claude Code's connection check does not wait that long and reported
"Failed to connect". So this process:

1. answers `initialize`, `ping` and the listings (`tools/list`, `prompts/list`,
   `resources/list`, `resources/templates/list`) itself, at once, with the server's own answers
   recorded in server/datamigration/data/first-start.json (a test keeps the record equal to the
   server); `server/discover` (the stateless protocol era) gets "method not found", which makes
   a client fall back to `initialize`;
2. meanwhile runs the launcher with DATAMIGRATION_INSTALL_ONLY=1 (its output goes to stderr,
   stdout belongs to the protocol) and holds every other message;
3. then starts `datamigration serve`, replays the client's `initialize` to it (its answer is
   dropped: the client already has one), waits for that answer, forwards the held messages in
   order and from then on copies both directions unchanged.

If the installation fails, every held request gets a JSON-RPC error saying why and what to do,
and the process exits 1. Only the first start of a plugin copy goes through here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

#: Protocol revisions the server negotiates through `initialize` (mcp_types.version).
HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
#: The server's own answers, recorded by `python -m datamigration.mcp.first_start`.
RECORD = Path("server", "datamigration", "data", "first-start.json")
LISTINGS = ("tools/list", "prompts/list", "resources/list", "resources/templates/list")
REPLAY_ID = "datamigration-first-start-initialize"
METHOD_NOT_FOUND = -32601
INTERNAL_ERROR = -32603


def initialize_result(record: dict[str, Any], requested: object) -> dict[str, Any]:
    """The server's `initialize` answer: the client's revision when served, else the newest."""
    negotiated = requested if requested in HANDSHAKE_VERSIONS else HANDSHAKE_VERSIONS[-1]
    return dict(record["initialize"], protocolVersion=negotiated)


class FirstStart:
    """One client session, served here until the real server takes it over."""

    def __init__(self, launcher: str, server: list[str], record: dict[str, Any]) -> None:
        self.launcher = launcher
        self.server = server
        self.record = record
        self.lock = threading.Lock()
        self.out_lock = threading.Lock()
        self.held: list[bytes] = []
        self.initialize: dict[str, Any] | None = None
        self.child: subprocess.Popen[bytes] | None = None
        self.live = False
        self.failed: str | None = None
        self.replayed = threading.Event()
        self.pumping: threading.Thread | None = None

    # --- output ------------------------------------------------------------------------------

    def write(self, line: bytes) -> None:
        with self.out_lock:
            try:
                sys.stdout.buffer.write(line if line.endswith(b"\n") else line + b"\n")
                sys.stdout.buffer.flush()
            except OSError:
                pass  # the client is gone; the server still gets to finish

    def answer(self, request_id: Any, result: dict[str, Any]) -> None:
        self.write(json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result}).encode())

    def error(self, request_id: Any, code: int, message: str) -> None:
        body = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
        self.write(json.dumps(body).encode())

    # --- client -> here ----------------------------------------------------------------------

    def receive(self, line: bytes) -> None:
        """One line from the client: answered here, held, or passed to the live server."""
        with self.lock:
            if self.live and self.child is not None and self.child.stdin is not None:
                self.child.stdin.write(line)
                self.child.stdin.flush()
                return
            try:
                message = json.loads(line)
            except ValueError:
                message = None
            if not isinstance(message, dict):
                self.held.append(line)
                return
            method, request_id = message.get("method"), message.get("id")
            if self.failed is not None and request_id is not None and method is not None:
                self.error(request_id, INTERNAL_ERROR, self.failed)
            elif method == "initialize" and self.initialize is None:
                self.initialize = message
                params = message.get("params") or {}
                self.answer(
                    request_id, initialize_result(self.record, params.get("protocolVersion"))
                )
            elif method in LISTINGS and request_id is not None and not message.get("params"):
                self.answer(request_id, self.record[method])
            elif method == "ping" and request_id is not None:
                self.answer(request_id, {})
            elif method == "server/discover" and request_id is not None:
                self.error(request_id, METHOD_NOT_FOUND, "Method not found: use initialize")
            else:
                self.held.append(line)

    # --- install and hand over ---------------------------------------------------------------

    def install_and_hand_over(self) -> None:
        env = dict(os.environ, DATAMIGRATION_INSTALL_ONLY="1")
        done = subprocess.run(
            [self.launcher, "serve"],
            stdin=subprocess.DEVNULL,
            stdout=sys.stderr,
            env=env,
            check=False,
        )
        if done.returncode != 0:
            self.fail(
                f"the datamigration environment could not be installed (exit {done.returncode}; "
                "the launcher's messages are in the MCP server log). Fix the cause it names, "
                "then restart the server (in Claude Code: /mcp, then reconnect datamigration)."
            )
            return
        self.child = subprocess.Popen(self.server, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.pumping = threading.Thread(target=self.pump, args=(self.child.stdout,), daemon=True)
        self.pumping.start()
        with self.lock:
            if self.initialize is not None:
                replay = dict(self.initialize, id=REPLAY_ID)
                self.send_child(json.dumps(replay).encode() + b"\n")
        if self.initialize is not None:
            self.replayed.wait()
        with self.lock:
            for line in self.held:
                self.send_child(line)
            self.held.clear()
            self.live = True

    def send_child(self, line: bytes) -> None:
        assert self.child is not None and self.child.stdin is not None
        self.child.stdin.write(line if line.endswith(b"\n") else line + b"\n")
        self.child.stdin.flush()

    def pump(self, stream: IO[bytes]) -> None:
        """Server -> client, less the answer to the replayed `initialize`."""
        for line in stream:
            if not self.replayed.is_set():
                try:
                    message = json.loads(line)
                except ValueError:
                    message = None
                if isinstance(message, dict) and message.get("id") == REPLAY_ID:
                    self.replayed.set()
                    continue
            self.write(line)
        # The server closed its output: it ended, and this session ends with its exit code.
        self.replayed.set()
        assert self.child is not None
        os._exit(self.child.wait())

    def fail(self, why: str) -> None:
        with self.lock:
            self.failed = why
            for line in self.held:
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if isinstance(message, dict) and "id" in message and "method" in message:
                    self.error(message["id"], INTERNAL_ERROR, why)
            self.held.clear()
        print(f"datamigration-mcp: {why}", file=sys.stderr)
        sys.stdout.flush()
        os._exit(1)


def main(argv: list[str]) -> int:
    launcher = os.environ["DATAMIGRATION_LAUNCHER"]
    venv = Path(os.environ["DATAMIGRATION_VENV"])
    root = Path(launcher).resolve().parent.parent
    try:
        record = json.loads((root / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        # Without the record nothing can be answered early: install first, as before.
        print(f"datamigration-mcp: {RECORD} unreadable ({exc}); installing first", file=sys.stderr)
        env = dict(os.environ, DATAMIGRATION_NO_FIRST_START="1")
        os.execve(launcher, [launcher, *argv], env)
    session = FirstStart(launcher, [str(venv / "bin" / "datamigration"), *argv], record)
    installing = threading.Thread(target=session.install_and_hand_over, daemon=True)
    installing.start()
    for line in sys.stdin.buffer:
        session.receive(line)
    # The client closed its side. Held requests are still answered: finish the installation
    # (it is needed next time anyway), let the server read what was held, then end its input;
    # the pump leaves with the server's exit code once its output is written.
    installing.join()
    if session.child is None or session.child.stdin is None or session.pumping is None:
        return 0
    with session.lock:
        session.child.stdin.close()
    session.pumping.join()
    return session.child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
