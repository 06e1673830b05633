"""bin/datamigration-mcp, the plugin's launcher: stdout stays the MCP channel, install is once.

The real first-start install needs a package index and half a minute, so the suite does not
repeat it (bench/bench_plugin_first_start.py times it); here the launcher runs against an
environment marked as installed, on a machine without a suitable Python, and with a stand-in
install the test holds (support/plugin.py) to show that bin/first-start.py answers the handshake
and the listings before the environment exists and hands the session over afterwards.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from datamigration.mcp import first_start as recording
from support.plugin import gated_python, plugin_copy

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = REPO / "bin" / "datamigration-mcp"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def installed_venv(tmp_path: Path) -> Path:
    """A venv directory the launcher accepts as installed, pointing at this interpreter's CLI."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "datamigration").symlink_to(Path(sys.executable).with_name("datamigration"))
    (venv / ".installed-runtime").touch()
    return venv


def launcher_env(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATAMIGRATION_WORKSPACE"}
    env["DATAMIGRATION_VENV"] = str(venv)
    return env


async def test_launcher_serves_mcp_over_stdio_from_an_installed_environment(
    installed_venv: Path, workspace_dir: Path
) -> None:
    params = StdioServerParameters(
        command=str(LAUNCHER),
        args=["serve", "--workspace", str(workspace_dir)],
        env=launcher_env(installed_venv),
    )
    with anyio.fail_after(60):
        async with Client(params) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
    assert {"read", "write", "find_migrations"} <= tools


def test_launcher_passes_other_commands_through(installed_venv: Path) -> None:
    proc = subprocess.run(
        [str(LAUNCHER), "--version"],
        capture_output=True,
        text=True,
        env=launcher_env(installed_venv),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("datamigration ")


def test_launcher_without_python_says_what_to_install_and_keeps_stdout_clean(tmp_path: Path):
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("dirname", "cksum", "cut", "flock", "mkdir", "rmdir", "sleep", "printf"):
        found = shutil.which(name)
        if found:
            (tools / name).symlink_to(found)
    env = {"PATH": str(tools), "DATAMIGRATION_VENV": str(tmp_path / "absent-venv")}
    proc = subprocess.run(
        ["/bin/bash", str(LAUNCHER), "serve"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "Python 3.11 or newer is required" in proc.stderr
    assert not (tmp_path / "absent-venv").exists()


# --- first start: the handshake before the environment exists -------------------------------


def shim() -> ModuleType:
    """bin/first-start.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location(
        "first_start_shim", REPO / "bin" / "first-start.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Session:
    """JSON-RPC lines to and from a launcher process; answers are read by a thread."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(b"")

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def request(self, request_id: int, method: str, params: dict | None = None) -> None:
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        self.send(body | ({"params": params} if params is not None else {}))

    def answer(self, timeout: float = 60) -> dict[str, Any]:
        line = self.lines.get(timeout=timeout)
        assert line, "the launcher closed stdout"
        return json.loads(line)  # every line on stdout is JSON-RPC


INITIALIZE = {
    "protocolVersion": "2025-06-18",
    "capabilities": {},
    "clientInfo": {"name": "launcher-test", "version": "1"},
}


def standin_env(python: Path) -> dict[str, str]:
    """This environment, with the stand-in interpreter and no uv: the install the test controls."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATAMIGRATION_")}
    return env | {"DATAMIGRATION_PYTHON": str(python), "DATAMIGRATION_UV": ""}


def launch(
    plugin: Path, workspace: Path, env: dict[str, str], stderr: int = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """`bin/datamigration-mcp serve` of a plugin copy, as `.mcp.json` starts it."""
    return subprocess.Popen(
        [str(plugin / "bin" / "datamigration-mcp"), "serve", "--workspace", str(workspace)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=env,
    )


@pytest.fixture
def first_start(tmp_path: Path, workspace_dir: Path) -> Iterator[tuple[Session, Path, Any]]:
    """A fresh plugin copy started with `serve`, its install held by the test's lock."""
    plugin = plugin_copy(tmp_path / "plugin")
    gate = tmp_path / "install.gate"
    env = standin_env(gated_python(tmp_path, gate))
    held = gate.open()
    fcntl.flock(held, fcntl.LOCK_EX)
    proc = launch(plugin, workspace_dir, env)
    try:
        yield Session(proc), plugin, held
    finally:
        held.close()
        proc.kill()
        proc.wait()


def test_first_start_answers_the_handshake_and_listings_while_the_install_is_held(first_start):
    session, plugin, held = first_start
    installed = plugin / ".venv" / "bin" / "datamigration"
    session.request(1, "initialize", INITIALIZE)
    init = session.answer()
    assert init["id"] == 1 and init["result"]["serverInfo"]["name"] == "datamigration"
    assert init["result"]["protocolVersion"] == "2025-06-18"
    session.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    session.request(2, "tools/list")
    session.request(3, "prompts/list")
    tools, prompts = session.answer(), session.answer()
    assert {t["name"] for t in tools["result"]["tools"]} >= {"read", "glob", "plan_migration"}
    assert {p["name"] for p in prompts["result"]["prompts"]} >= {"migration-status"}
    assert not installed.exists(), "answered only after the install: the handshake waited"
    session.request(4, "tools/call", {"name": "glob", "arguments": {"pattern": "*"}})
    fcntl.flock(held, fcntl.LOCK_UN)
    call = session.answer()
    assert call["id"] == 4 and "result" in call and not call["result"].get("isError"), call
    assert installed.exists()


def test_first_start_refuses_the_stateless_probe_so_the_client_falls_back_to_initialize(
    first_start,
):
    session, _, _ = first_start
    session.request(1, "server/discover", {})
    assert session.answer()["error"]["code"] == -32601
    session.request(2, "ping")
    assert session.answer() == {"jsonrpc": "2.0", "id": 2, "result": {}}


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_client_gets_a_whole_session_through_the_first_start(
    tmp_path: Path, workspace_dir: Path, mode: str
) -> None:
    plugin = plugin_copy(tmp_path / "plugin")
    env = standin_env(gated_python(tmp_path, tmp_path / "install.gate"))  # nobody holds it
    (workspace_dir / "a.sql").write_text("select 1;\n")
    params = StdioServerParameters(
        command=str(plugin / "bin" / "datamigration-mcp"),
        args=["serve", "--workspace", str(workspace_dir)],
        env=env,
    )
    with anyio.fail_after(120):
        async with Client(params, mode=mode) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            found = await client.call_tool("glob", {"pattern": "*.sql"})
    assert {"read", "glob"} <= tools
    assert not found.is_error and "a.sql" in json.dumps(found.structured_content)
    assert (plugin / ".venv" / "bin" / "datamigration").exists()


def test_a_failed_first_install_answers_held_requests_with_what_to_do(tmp_path, workspace_dir):
    plugin = plugin_copy(tmp_path / "plugin")
    env = standin_env(gated_python(tmp_path, tmp_path / "install.gate", fail=True))
    proc = launch(plugin, workspace_dir, env, stderr=subprocess.PIPE)
    lines = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INITIALIZE},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "glob"}},
    ]
    out, err = proc.communicate("".join(json.dumps(m) + "\n" for m in lines).encode(), 120)
    answers = [json.loads(line) for line in out.splitlines()]
    assert proc.returncode == 1
    assert answers[0]["id"] == 1 and "result" in answers[0]
    assert answers[1]["id"] == 2
    assert "could not be installed" in answers[1]["error"]["message"]
    assert "reconnect" in answers[1]["error"]["message"]
    assert b"stand-in failure" in err


def test_the_first_start_record_equals_what_the_server_answers() -> None:
    recorded = json.loads(recording.RECORD.read_text(encoding="utf-8"))
    assert recorded == recording.record(), (
        "server/datamigration/data/first-start.json is stale: run "
        "`python -m datamigration.mcp.first_start` and commit the file"
    )


def test_the_shim_negotiates_the_protocol_revisions_the_server_does() -> None:
    module = shim()
    assert tuple(module.HANDSHAKE_VERSIONS) == tuple(HANDSHAKE_PROTOCOL_VERSIONS)
    assert tuple(module.LISTINGS) == recording.LISTINGS
    assert module.RECORD.as_posix() == "server/datamigration/data/first-start.json"
    recorded = json.loads(recording.RECORD.read_text(encoding="utf-8"))
    for version in HANDSHAKE_PROTOCOL_VERSIONS:
        answer = module.initialize_result(recorded, version)
        assert answer["protocolVersion"] == version
    assert module.initialize_result(recorded, "1999-01-01")["protocolVersion"] == "2025-11-25"


def standin_uv(directory: Path, works: bool) -> Path:
    """A `uv` that builds the venv like uv would (`venv DIR`, `pip install --python PY`), or
    fails at once, as uv does without its package index."""
    cli = Path(sys.executable).with_name("datamigration")
    script = directory / "uv-standin"
    body = (
        f"""case "$1" in
  venv) for a; do venv="$a"; done; mkdir -p "$venv/bin"; echo uv-made > "$venv/uv-made" ;;
  pip) py="$5"; ln -sf "{cli}" "$(dirname "$py")/datamigration" ;;
esac"""
        if works
        else 'echo "uv: network unreachable (stand-in)" >&2; exit 2'
    )
    script.write_text(f"#!/bin/bash\n{body}\n")
    script.chmod(0o755)
    return script


@pytest.mark.parametrize("uv_works", [True, False], ids=["uv", "uv-fails-then-pip"])
def test_the_first_install_uses_uv_when_present_and_pip_when_uv_fails(tmp_path, uv_works):
    plugin = plugin_copy(tmp_path / "plugin")
    env = standin_env(gated_python(tmp_path, tmp_path / "install.gate"))
    env["DATAMIGRATION_UV"] = str(standin_uv(tmp_path, uv_works))
    proc = subprocess.run(
        [str(plugin / "bin" / "datamigration-mcp"), "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("datamigration ")
    venv = plugin / ".venv"
    assert (venv / ".installed-runtime").is_file()
    assert (venv / "uv-made").exists() == uv_works
    assert ("with pip" in proc.stderr) != uv_works
