"""bin/datamigration-mcp, the plugin's launcher: stdout stays the MCP channel, install is once.

The first-start install needs a package index and a minute, so the suite does not repeat it;
here the launcher runs against an environment marked as installed, and on a machine without a
suitable Python.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

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
