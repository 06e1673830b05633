"""`datamigration serve` as a real subprocess: stdio (both protocol eras) and streamable HTTP.

Waits are bounded (fail_after / queue timeouts) and every process started here is killed after.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

DEADLINE = 60  # seconds; generous for a cold interpreter, never reached when things work


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def datamigration_command() -> str:
    beside = Path(sys.executable).with_name("datamigration")
    found = str(beside) if beside.exists() else shutil.which("datamigration")
    assert found, "the datamigration console script is not installed"
    return found


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DATAMIGRATION_WORKSPACE", None)
    return env


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_serve_speaks_mcp_over_stdio(workspace_dir: Path, mode: str) -> None:
    params = StdioServerParameters(
        command=datamigration_command(),
        args=["serve", "--workspace", str(workspace_dir)],
        env=child_env(),
    )
    with anyio.fail_after(DEADLINE):
        async with Client(params, mode=mode) as client:
            tools = (await client.list_tools()).tools
            prompts = (await client.list_prompts()).prompts
    assert {p.name for p in prompts} == {"plan-migration", "migration-status", "adr-new"}
    for listed in tools:
        assert listed.annotations is not None and listed.output_schema is not None


@pytest.fixture
def http_server(workspace_dir: Path) -> Iterator[tuple[str, list[str]]]:
    """Start `serve --http --port 0`; yield its URL (read from its announcement) and stderr."""
    proc = subprocess.Popen(
        [datamigration_command(), "serve", "--http", "--port", "0"],
        cwd=workspace_dir,
        env={**child_env(), "DATAMIGRATION_WORKSPACE": str(workspace_dir)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            lines.put(line)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        url = None
        while url is None:
            try:
                line = lines.get(timeout=DEADLINE)
            except queue.Empty:
                pytest.fail(f"serve --http did not announce itself; stderr: {''.join(seen)}")
            found = re.search(r"(http://127\.0\.0\.1:\d+/mcp)", line)
            url = found.group(1) if found else None
        yield url, seen
    finally:
        proc.kill()
        proc.wait(timeout=DEADLINE)
        reader.join(timeout=DEADLINE)  # EOF after the kill ends it
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_serve_http_binds_loopback_and_speaks_mcp(
    http_server: tuple[str, list[str]], mode: str
) -> None:
    url, _ = http_server
    assert url.startswith("http://127.0.0.1:")
    with anyio.fail_after(DEADLINE):
        async with Client(url, mode=mode) as client:
            prompts = (await client.list_prompts()).prompts
    assert {p.name for p in prompts} == {"plan-migration", "migration-status", "adr-new"}


def listening_addresses(port: int) -> set[str]:
    """Local addresses of LISTEN sockets on `port`, read from the kernel's tables (Linux)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for row in Path(table).read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_serve_http_listens_on_loopback_only(http_server: tuple[str, list[str]]) -> None:
    if not os.path.exists("/proc/net/tcp"):
        pytest.skip("needs Linux /proc/net/tcp to read listening sockets")
    url, _ = http_server
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    # 0100007F is 127.0.0.1 in the kernel's little-endian hex; 00000000 would be 0.0.0.0.
    assert listening_addresses(port) == {"0100007F"}


def test_serve_help_names_stdio_and_http() -> None:
    out = subprocess.run(
        [datamigration_command(), "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=True,
    ).stdout
    assert "--http" in out and "127.0.0.1" in out and "--workspace" in out


async def accept(context, params) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"confirm": True})


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_elicitation_confirms_over_http_in_both_eras(
    http_server: tuple[str, list[str]], workspace_dir: Path, mode: str
) -> None:
    url, _ = http_server
    with anyio.fail_after(DEADLINE):
        async with Client(url, mode=mode, elicitation_callback=accept) as client:
            result = await client.call_tool("run", {"command": f"touch over-http-{mode}"})
    assert not result.is_error, result
    assert (workspace_dir / f"over-http-{mode}").exists()


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_elicitation_confirms_over_stdio_in_both_eras(workspace_dir: Path, mode: str) -> None:
    params = StdioServerParameters(
        command=datamigration_command(),
        args=["serve", "--workspace", str(workspace_dir)],
        env=child_env(),
    )
    with anyio.fail_after(DEADLINE):
        async with Client(params, mode=mode, elicitation_callback=accept) as client:
            result = await client.call_tool("run", {"command": f"touch over-stdio-{mode}"})
    assert not result.is_error, result
    assert (workspace_dir / f"over-stdio-{mode}").exists()


def test_serve_http_on_a_busy_port_says_so_without_a_traceback(workspace_dir: Path) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = subprocess.run(
            [datamigration_command(), "serve", "--http", "--port", str(port)],
            cwd=workspace_dir,
            env={**child_env(), "DATAMIGRATION_WORKSPACE": str(workspace_dir)},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            check=False,
        )
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "--port 0" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_serve_http_refuses_a_foreign_host_header(http_server: tuple[str, list[str]]) -> None:
    """DNS-rebinding guard: a page on attacker.example resolving to 127.0.0.1 is refused, while
    the very same request naming 127.0.0.1 is served."""
    import http.client

    url, _ = http_server
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    body = (
        '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
        '"capabilities":{},"clientInfo":{"name":"probe","version":"1"}}}'
    )

    def status_for(host: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE)
        try:
            conn.request(
                "POST",
                "/mcp",
                body=body,
                headers={
                    "Host": host,
                    "Content-Type": "application/json",
                    "Accept": "application/json, text/event-stream",
                },
            )
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    assert status_for(f"127.0.0.1:{port}") == 200
    assert status_for("attacker.example") in (403, 421)
