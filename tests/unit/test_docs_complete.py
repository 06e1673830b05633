"""What a user sees first is complete and consistent: README, plugin, agent, commands, expertise.

Every CLI command is in the README, and the README's typical session parses with the real
parser; docs/index.md links every page under docs/; bench/README.md names every benchmark; every
slash command has front matter Claude Code accepts; the plugin manifest and the MCP declaration
parse and point at files that exist; the agent may use exactly the MCP tools the server
registers, in both forms Claude Code uses, and its workflow names each of them; no tool name
grows past the 64 characters the model API accepts; the coordination files of this repository
are valid against their own schemas.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import stat
from pathlib import Path

import jsonschema
import pytest
import yaml

from datamigration.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "server" / "datamigration" / "schemas"
SERVER_KEY = "datamigration"
EXPECTED_COMMANDS = {
    "plan-migration",
    "migration-status",
    "adr-new",
    "validate",
    "migrate",
    "rollback",
    "lint-migration",
}
#: Front-matter keys Claude Code reads; its validator does not reject others, so we do.
COMMAND_KEYS = {"description", "argument-hint", "allowed-tools", "model"}
AGENT_KEYS = {"name", "description", "tools", "model"}
#: The model API rejects tool names longer than this; plugin tools carry a long prefix.
MAX_TOOL_NAME = 64


def front_matter(path: Path) -> tuple[dict, str]:
    text = path.read_text(encoding="utf-8")
    match = re.match(r"\A---\n(.*?)\n---\n(.*)\Z", text, re.DOTALL)
    assert match, f"{path.name}: no front matter block at the top"
    data = yaml.safe_load(match.group(1))
    assert isinstance(data, dict), f"{path.name}: front matter is not a mapping"
    return data, match.group(2)


def plugin_name() -> str:
    return json.loads((REPO / ".claude-plugin" / "plugin.json").read_text())["name"]


def tool_forms(tool: str) -> tuple[str, str]:
    """How Claude Code names one of our tools: added by hand, and bundled with the plugin."""
    return f"mcp__{SERVER_KEY}__{tool}", f"mcp__plugin_{plugin_name()}_{SERVER_KEY}__{tool}"


def comma_list(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value]
    return [part.strip() for part in str(value).split(",") if part.strip()]


@pytest.fixture(scope="module")
def registered_tools(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    from datamigration.mcp.app import build_server
    from datamigration.workspace.root import Workspace

    server = build_server(Workspace.open(tmp_path_factory.mktemp("ws")))
    return [t.name for t in asyncio.run(server.list_tools())]


@pytest.fixture(scope="module")
def agent() -> tuple[dict, str]:
    return front_matter(REPO / "agents" / "datamigration.md")


# --- README ----------------------------------------------------------------------------------


def cli_commands() -> list[str]:
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if a.dest == "command"]
    return sorted(subparsers.choices)


def test_every_cli_command_is_listed_in_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    missing = [c for c in cli_commands() if f"`datamigration {c}" not in readme]
    assert not missing, f"README.md does not list: {', '.join(missing)}"


def typical_session() -> list[list[str]]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Typical session", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "the typical session has no shell block"
    lines = [shlex.split(line, comments=True) for line in block.group(1).splitlines()]
    return [argv[1:] for argv in lines if argv and argv[0] == "datamigration"]


def test_the_readme_typical_session_uses_real_commands_and_flags():
    session = typical_session()
    commands = [argv[0] for argv in session]
    for needed in ("inspect", "lint", "plan", "execute", "validate", "status"):
        assert needed in commands, needed
    assert any("--dry-run" in argv for argv in session if argv[0] == "execute")
    assert any("--yes" in argv for argv in session if argv[0] == "execute")
    assert ["status", "set", "US-0042", "in-review"] in session
    parser = build_parser()
    for argv in session:
        try:
            parser.parse_args(argv)
        except SystemExit as exc:  # argparse refuses an unknown command or flag this way
            raise AssertionError(f"`datamigration {shlex.join(argv)}` does not parse") from exc


def test_docs_index_links_every_docs_page():
    index = (REPO / "docs" / "index.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", index))
    pages = sorted(p.name for p in (REPO / "docs").glob("*.md") if p.name != "index.md")
    missing = [page for page in pages if page not in linked]
    assert not missing, f"docs/index.md does not link: {missing}"


def test_bench_readme_names_every_benchmark():
    readme = (REPO / "bench" / "README.md").read_text(encoding="utf-8")
    scripts = sorted(p.name for p in (REPO / "bench").glob("bench_*.py"))
    missing = [s for s in scripts if f"[`{s}`]({s})" not in readme]
    assert not missing, f"bench/README.md does not list: {missing}"


def test_readme_quick_start_is_exactly_make_demo_and_make_test():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "the quick start has no shell block"
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert [c for c in commands if c] == ["make demo", "make test"]
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:", makefile, re.MULTILINE) and re.search(
        r"^test:", makefile, re.MULTILINE
    )


def test_readme_shows_every_client_setup():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for needle in (
        "claude plugin install",
        "claude mcp add datamigration",
        ".cursor/mcp.json",
        ".vscode/mcp.json",
        '"type": "stdio"',
        '"password": true',
        "claude_desktop_config.json",
    ):
        assert needle in readme, needle


def test_json_snippets_in_the_readme_parse():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", readme, re.DOTALL)
    assert len(blocks) >= 3
    for block in blocks:
        json.loads(block)


@pytest.mark.parametrize("doc", ["README.md", "docs/index.md", "bench/README.md"])
def test_relative_links_point_at_files_that_exist(doc):
    path = REPO / doc
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8"))
    broken = [
        t
        for t in targets
        if "://" not in t and not t.startswith("mailto:") and not (path.parent / t).exists()
    ]
    assert not broken, f"{doc} links to missing files: {broken}"


# --- slash commands --------------------------------------------------------------------------


def test_the_expected_slash_commands_exist():
    names = {p.stem for p in (REPO / "commands").glob("*.md")}
    assert EXPECTED_COMMANDS <= names


@pytest.mark.parametrize("path", sorted((REPO / "commands").glob("*.md")), ids=lambda p: p.stem)
def test_each_command_has_valid_front_matter_and_uses_its_arguments(path, agent):
    data, body = front_matter(path)
    assert set(data) >= {"description", "argument-hint", "allowed-tools"}, path.name
    assert set(data) <= COMMAND_KEYS, (
        f"{path.name}: unknown front matter {set(data) - COMMAND_KEYS}"
    )
    assert isinstance(data["description"], str) and 10 <= len(data["description"]) <= 200
    assert isinstance(data["argument-hint"], str) and data["argument-hint"].strip()
    assert "$ARGUMENTS" in body
    allowed = comma_list(data["allowed-tools"])
    assert allowed, f"{path.name}: allowed-tools is empty"
    # A command may only grant what the agent itself may use.
    agent_tools = set(comma_list(agent[0]["tools"]))
    assert not set(allowed) - agent_tools, set(allowed) - agent_tools
    # Each MCP tool is granted in both names, so the command works however the server came.
    for name in allowed:
        if name.startswith("mcp__"):
            tool = name.rsplit("__", 1)[1]
            assert set(tool_forms(tool)) <= set(allowed), f"{path.name}: {tool}"


# --- agent -----------------------------------------------------------------------------------


def test_agent_front_matter_has_name_description_tools_model(agent):
    data, body = agent
    assert set(data) <= AGENT_KEYS, f"unknown front matter {set(data) - AGENT_KEYS}"
    assert data["name"] == "agileflow-datamigration"
    assert isinstance(data["description"], str) and len(data["description"]) > 40
    assert data["model"] in {"haiku", "sonnet", "opus", "inherit"}
    tools = comma_list(data["tools"])
    assert {"Read", "Write", "Edit", "Bash", "Glob", "Grep"} <= set(tools)
    assert len(body.split()) > 300, "the agent prompt is missing"


def test_agent_may_use_every_tool_the_server_registers(agent, registered_tools):
    tools = set(comma_list(agent[0]["tools"]))
    missing = [t for t in registered_tools if not set(tool_forms(t)) <= tools]
    assert not missing, f"agents/datamigration.md tools lack: {missing}"


def test_agent_names_only_tools_the_server_registers(agent, registered_tools):
    """A name in the agent's tools that no server tool matches is a typo or a removed tool."""
    named = {t.rsplit("__", 1)[1] for t in comma_list(agent[0]["tools"]) if t.startswith("mcp__")}
    assert named <= set(registered_tools), named - set(registered_tools)


def test_agent_workflow_names_every_tool(agent, registered_tools):
    """Granting a tool is not enough: the prompt has to say when to call it."""
    body = agent[1]
    missing = [t for t in registered_tools if f"`{t}`" not in body]
    assert not missing, f"agents/datamigration.md never says when to use: {missing}"


def test_no_tool_name_exceeds_the_model_limit_in_either_form(agent, registered_tools):
    names = [n for t in registered_tools for n in tool_forms(t)]
    names += [t for t in comma_list(agent[0]["tools"]) if t.startswith("mcp__")]
    too_long = sorted({n for n in names if len(n) > MAX_TOOL_NAME})
    assert not too_long, f"longer than {MAX_TOOL_NAME} characters: {too_long}"


# --- plugin manifest and MCP declaration -----------------------------------------------------


def test_plugin_manifest_parses_and_its_paths_exist():
    manifest = json.loads((REPO / ".claude-plugin" / "plugin.json").read_text())
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", manifest["name"])
    for key in ("version", "description", "author", "license", "keywords"):
        assert manifest.get(key), key
    for key in ("commands", "mcpServers"):
        value = manifest[key]
        assert value.startswith("./"), f"{key} must start with ./"
        assert (REPO / value).exists(), f"{key}: {value} does not exist"
    # Claude Code finds agents in agents/ by convention; an `agents` field naming a folder is
    # rejected by `claude plugin validate` ("agents: Invalid input").
    assert "agents" not in manifest
    assert (REPO / "agents" / "datamigration.md").is_file()
    assert not (REPO / "agent").exists()


def test_marketplace_lists_this_plugin_from_this_directory():
    market = json.loads((REPO / ".claude-plugin" / "marketplace.json").read_text())
    (entry,) = market["plugins"]
    assert entry["name"] == plugin_name()
    assert (REPO / entry["source"] / ".claude-plugin" / "plugin.json").is_file()


def test_mcp_declaration_runs_the_launcher_from_the_plugin_root():
    servers = json.loads((REPO / ".mcp.json").read_text())["mcpServers"]
    server = servers[SERVER_KEY]
    assert server["args"] == ["serve"]
    command = server["command"]
    assert command.startswith("${CLAUDE_PLUGIN_ROOT}/")
    launcher = REPO / command.removeprefix("${CLAUDE_PLUGIN_ROOT}/")
    assert launcher.is_file()
    assert launcher.stat().st_mode & stat.S_IXUSR, "launcher is not executable"
    assert os.access(launcher, os.X_OK)


# --- expertise and coordination files --------------------------------------------------------


def schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


def test_expertise_file_is_valid_and_under_agileflows_size_limit():
    path = REPO / "expertise" / "datamigration.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    jsonschema.validate(data, schema("expertise"))
    assert len(path.read_text(encoding="utf-8").splitlines()) < 200
    for key in ("pre_migration", "during_migration", "post_migration"):
        assert data["migration_checklist"][key], key
    text = path.read_text(encoding="utf-8")
    for trigger in ("> 1%", "2x baseline", "> 30 s", "checksum"):
        assert trigger in text, trigger


def test_repository_status_and_bus_are_valid():
    jsonschema.validate(json.loads((REPO / "status.json").read_text()), schema("status"))
    lines = (REPO / "bus" / "log.jsonl").read_text(encoding="utf-8").splitlines()
    for line in lines:
        jsonschema.validate(json.loads(line), schema("bus-message"))
