"""The plugin installs in Claude Code itself (issue 10, items 12-14).

Runs the real `claude` CLI from npm (`@anthropic-ai/claude-code`; .ci/run installs it and passes
its path in DATAMIGRATION_CLAUDE) with a throwaway HOME: its plugin commands work offline. Under
CI=true a missing `claude` is a failure, never a skip.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from support.plugin import REPO, gated_python, plugin_copy
from support.services import unavailable

pytestmark = pytest.mark.e2e

MARKETPLACE = "agileflow-datamigration"
PLUGIN = "datamigration"


@pytest.fixture(scope="module")
def claude() -> str:
    found = os.environ.get("DATAMIGRATION_CLAUDE") or shutil.which("claude")
    if not found or not os.access(found, os.X_OK):
        unavailable(
            "Claude Code (`claude`)",
            "not on PATH and DATAMIGRATION_CLAUDE unset; install it with "
            "`npm install -g @anthropic-ai/claude-code` (.ci/run does)",
        )
    return str(found)


@pytest.fixture
def claude_env(tmp_path: Path) -> dict[str, str]:
    """A throwaway HOME: nothing of the user's Claude Code settings is read or changed."""
    home = tmp_path / "home"
    home.mkdir()
    keep = ("PATH", "LANG", "TMPDIR", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        HOME=str(home),
        DISABLE_AUTOUPDATER="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DATAMIGRATION_UV="",  # the stand-in install below, never a real one
    )
    return env


def run(claude: str, env: dict[str, str], *args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(
        [claude, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120, check=False
    )
    assert proc.returncode == 0, f"claude {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def install(claude: str, env: dict[str, str], plugin: Path) -> None:
    """The README's two commands."""
    run(claude, env, "plugin", "marketplace", "add", str(plugin))
    run(claude, env, "plugin", "install", f"{PLUGIN}@{MARKETPLACE}")


def inventory(details: str, kind: str) -> list[str]:
    """Names on a `Component inventory` line of `claude plugin details`, e.g. `Agents (1)  x`."""
    match = re.search(rf"^\s*{kind} \((\d+)\)(.*)$", details, flags=re.MULTILINE)
    assert match, f"no {kind} line in:\n{details}"
    names = [n.strip() for n in match.group(2).split("(")[0].split(",") if n.strip()]
    assert int(match.group(1)) == len(names), match.group(0)
    return names


def test_the_marketplace_and_the_plugin_manifest_pass_strict_validation(claude, claude_env):
    marketplace = run(claude, claude_env, "plugin", "validate", "--strict", str(REPO))
    assert "Validation passed" in marketplace, marketplace
    manifest = REPO / ".claude-plugin" / "plugin.json"
    plugin = run(claude, claude_env, "plugin", "validate", "--strict", str(manifest))
    assert "Validation passed" in plugin, plugin
    assert "warning" not in (marketplace + plugin).lower()


def test_the_installed_plugin_lists_the_agent_every_command_and_the_mcp_server(
    claude, claude_env, tmp_path
):
    install(claude, claude_env, plugin_copy(tmp_path / "plugin"))
    details = run(claude, claude_env, "plugin", "details", f"{PLUGIN}@{MARKETPLACE}")
    assert inventory(details, "Agents") == ["datamigration"]
    commands = sorted(p.stem for p in (REPO / "commands").glob("*.md"))
    assert sorted(inventory(details, "Skills")) == commands
    assert "status" not in commands  # Claude Code's built-in /status would shadow it
    assert inventory(details, "MCP servers") == ["datamigration"]


def test_the_first_start_connects_and_lists_tools_while_the_environment_is_built(
    claude, claude_env, tmp_path
):
    """Claude Code's own health check (`claude mcp list`) on a plugin nothing was installed for:
    the install is held for the whole check, and the server is still connected with its tools."""
    plugin = plugin_copy(tmp_path / "plugin")
    install(claude, claude_env, plugin)
    gate = tmp_path / "install.gate"
    claude_env["DATAMIGRATION_PYTHON"] = str(gated_python(tmp_path, gate))
    with gate.open() as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        listing = run(claude, claude_env, "mcp", "list", cwd=tmp_path)
        assert not (plugin / ".venv" / "bin" / "datamigration").exists(), "install was not held"
    line = next(x for x in listing.splitlines() if f"plugin:{PLUGIN}:{PLUGIN}" in x)
    assert "Connected" in line and "failed" not in line.lower(), listing
