"""First start of the plugin's MCP server, as Claude Code sees it (issue 10, item 14).

Copies the plugin (the files git tracks) into a fresh directory, so nothing is installed yet,
starts `bin/datamigration-mcp serve` the way `.mcp.json` does, sends the MCP `initialize`
request on stdin and times its answer, then `tools/list`, then a first `tools/call` (`glob`),
which only the installed server can answer. A second start of the same copy
shows the installed path. Claude Code reports "Failed to connect" when `initialize` is not
answered within its connection timeout (30 s by default, MCP_TIMEOUT).

    python bench/bench_plugin_first_start.py            # uv used when on PATH
    python bench/bench_plugin_first_start.py --no-uv    # PATH without uv: the pip path
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from support.plugin import plugin_copy  # tests/ holds support/, not a package

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "bench-first-start", "version": "1"},
    },
}


def path_without_uv() -> str:
    """PATH with every directory holding a `uv` removed (symlinks to the rest kept)."""
    keep = [
        d for d in os.environ.get("PATH", "").split(os.pathsep) if not (Path(d) / "uv").exists()
    ]
    return os.pathsep.join(keep)


def read_answer(proc: subprocess.Popen[bytes], want_id: int, deadline: float) -> dict | None:
    """The JSON-RPC response with id `want_id` from the server's stdout, or None at the deadline."""
    assert proc.stdout is not None
    buffer = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            return None
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            message = json.loads(line)
            if message.get("id") == want_id:
                return message
    return None


def send(proc: subprocess.Popen[bytes], message: dict) -> None:
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(message).encode() + b"\n")
    proc.stdin.flush()


def one_start(plugin: Path, workspace: Path, env: dict[str, str], timeout: float) -> dict:
    """Seconds to the `initialize` answer and to a `tools/list` answer holding the tools."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(plugin / "bin" / "datamigration-mcp"), "serve", "--workspace", str(workspace)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        send(proc, INITIALIZE)
        init = read_answer(proc, 1, started + timeout)
        t_init = time.monotonic() - started
        send(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        send(proc, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        tools = read_answer(proc, 2, started + timeout)
        t_tools = time.monotonic() - started
        glob = {"name": "glob", "arguments": {"pattern": "*"}}
        send(proc, {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": glob})
        call = read_answer(proc, 3, started + timeout)
        t_call = time.monotonic() - started
    finally:
        proc.kill()
        proc.wait()
    return {
        "initialize_s": round(t_init, 2) if init and "result" in init else None,
        "tools_list_s": round(t_tools, 2) if tools and "result" in tools else None,
        "tools": len(tools["result"]["tools"]) if tools and "result" in tools else 0,
        "first_call_s": round(t_call, 2) if call and "result" in call else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-uv", action="store_true", help="hide uv: measure the pip path")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true", help="accepted for run_all; no effect")
    parser.add_argument("--repeats", type=int, help="accepted for run_all; a first start is once")
    args = parser.parse_args(argv)

    env = {k: v for k, v in os.environ.items() if not k.startswith("DATAMIGRATION_")}
    if args.no_uv:
        env["PATH"] = path_without_uv()
    with tempfile.TemporaryDirectory(prefix="dm-first-start-") as tmp:
        plugin = plugin_copy(Path(tmp) / "plugin")
        workspace = Path(tmp) / "ws"
        workspace.mkdir()
        first = one_start(plugin, workspace, env, args.timeout)
        second = one_start(plugin, workspace, env, args.timeout)
    installer = "pip" if args.no_uv or not shutil.which("uv", path=env["PATH"]) else "uv"
    result = {"installer": installer, "first_start": first, "second_start": second}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"installer: {installer}")
        print("start  | initialize (s) | tools/list (s) | tools | first tools/call (s)")
        for name, row in (("first", first), ("second", second)):
            print(
                f"{name:6} | {row['initialize_s']!s:>14} | {row['tools_list_s']!s:>14} | "
                f"{row['tools']:>5} | {row['first_call_s']!s:>20}"
            )
    return 0 if first["initialize_s"] is not None else 1


if __name__ == "__main__":
    sys.exit(main())
