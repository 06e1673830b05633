"""Error text for the model: the same message and hint, with CLI wording turned into MCP wording.

Why here: the engine's errors are shared by the CLI and the MCP server, and many hints were
written for a terminal ("pass --db URL", "re-run with --yes", "datamigration execute P --hash H
--step s02"). Through MCP a `--flag` names nothing the model can pass, and a path such as
schemas/change-spec.schema.json is not a file the client can open. Rather than phrase every hint
twice in the engine, the MCP layer rewrites them on the way out, from one table of CLI flags to
tool arguments; a test runs every hint literal of the package through it and checks that no
`--flag` and no `datamigration <command>` survives.

A hint is ours, so it is rewritten whole. A message may quote what the caller sent (a command
line to confirm, a statement, a value), and that must reach the model exactly as sent: only the
message's own words, outside quotes and backticks, are rewritten, and a confirmation request's
message (the exact action the user is asked to agree to) is never touched.
"""

from __future__ import annotations

import re

#: CLI flag -> the argument of the MCP tool that does the same (same name when absent).
FLAG_TO_ARGUMENT = {
    "yes": "confirm_token",
    "hash": "plan_hash",
    "all": "all_steps",
    "lag": "lag_seconds",
    "map": "field_map",
    "gate": "rules",
    "probe-url": "probe_db",
    "skip-steps": "skip_steps",
    "text": "text",
    "url": "db",
    "source-url": "source",
    "target-url": "target",
    "max-lag": "max_lag_seconds",
    "list-rules": "the rule list in docs/lint-rules.md",
    "workspace": "the server's workspace (DATAMIGRATION_WORKSPACE)",
}

#: CLI command -> MCP tool.
COMMAND_TO_TOOL = {
    "plan": "plan_migration",
    "lint": "lint_migration",
    "execute": "execute",
    "rollback": "rollback",
    "rehearse": "rehearse",
    "run-status": "run_status",
    "inspect": "inspect",
    "query": "query",
    "validate": "validate",
    "diff": "diff_data",
    "rules-from-schema": "generate_rules",
}

#: Paths inside the package that a client cannot open, and what it can read instead.
PATH_TO_RESOURCE = {
    "server/datamigration/schemas/validation-rules.schema.json": (
        "the MCP resource schema://validation-rules"
    ),
    "schemas/validation-rules.schema.json": "the MCP resource schema://validation-rules",
    "schemas/change-spec.schema.json": "the MCP resource schema://change-spec",
    "server/datamigration/schemas/document-mapping.schema.json": (
        "the MCP resource schema://document-mapping"
    ),
}

_CLI_ASIDE = re.compile(r"\s*\((?:CLI:?|on the CLI)[^)]*\)")
_CLI_ALTERNATIVE = re.compile(r"(?<![\w-])--[a-z][\w-]*(?: [^,;()]*?)? on the CLI(?: \([^)]*\))?, ")
_CLI_LABELLED = re.compile(r"CLI --[a-z][\w-]*(?: [^,;()]*)?, tool ")
_CLI_OR_TOOL = re.compile(r"(?<![\w-])--[a-z][\w-]* / ")
_FLAG_THEN_ARGUMENT = re.compile(r"(?<![\w-])--[a-z][\w-]* \((`\w+`)\)")
_OR_PASS_ON_CLI = re.compile(r",? or pass --[a-z][\w-]* on the CLI")
_VALUE = r"(?: (?!--)[^\s`,;()]+)"
_COMMAND = re.compile(rf"`?datamigration ([a-z-]+)({_VALUE}?(?: --[a-z][\w-]*{_VALUE}?)*)`?")
_FLAG = re.compile(r"(?<![\w-])--([a-z][\w-]*)(?: ([A-Z][A-Z_.]*)\b)?")


def for_mcp(text: str) -> str:
    """Rewrite CLI references in an error text into tool names and arguments."""
    for path, resource in PATH_TO_RESOURCE.items():
        text = text.replace(path, resource)
    text = _CLI_LABELLED.sub("", text)
    text = _CLI_ASIDE.sub("", text)
    text = _OR_PASS_ON_CLI.sub("", text)
    text = _CLI_ALTERNATIVE.sub("", text)
    text = _CLI_OR_TOOL.sub("", text)
    text = _FLAG_THEN_ARGUMENT.sub(r"\1", text)
    text = _COMMAND.sub(_command, text)
    return _FLAG.sub(lambda m: f"`{_argument(m.group(1))}`", text)


_QUOTED = re.compile(r"(`[^`]*`|'[^'\n]*'|\"[^\"\n]*\")")


def message_for_mcp(text: str) -> str:
    """`for_mcp` on the message's own words; quoted text (the caller's input) is kept as is."""
    parts = _QUOTED.split(text)
    return "".join(part if i % 2 else for_mcp(part) for i, part in enumerate(parts))


def _argument(flag: str) -> str:
    return FLAG_TO_ARGUMENT.get(flag, flag.replace("-", "_"))


def _command(match: re.Match[str]) -> str:
    """`datamigration execute P --hash H --step s02` -> the `execute` tool with plan_id=P, ..."""
    command, words = match.group(1), match.group(2).split()
    tool = COMMAND_TO_TOOL.get(command, command.replace("-", "_"))
    positional = "plan_id" if tool in {"execute", "rollback", "rehearse", "run_status"} else "db"
    args: list[str] = []
    for i, word in enumerate(words):
        if word.startswith("--"):
            name = _argument(word[2:])
            has_value = i + 1 < len(words) and not words[i + 1].startswith("--")
            if name != "confirm_token" and not has_value:  # the tool asks for confirmation itself
                args.append(f"{name}=true")
        elif i > 0 and words[i - 1].startswith("--"):
            if _argument(words[i - 1][2:]) != "confirm_token":
                args.append(f"{_argument(words[i - 1][2:])}={word}")
        else:
            args.append(f"{positional}={word}")
    return f"the `{tool}` tool" + (f" with {', '.join(args)}" if args else "")
