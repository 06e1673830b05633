"""Arguments that do not fit a tool's input schema come back as a tool error with a hint.

The SDK checks a call's arguments with pydantic before our tool body runs, so our error wrapper
never sees the failure, and the model used to get pydantic's raw report: the rejected value
echoed back (a URL with a password in it, say), a link to pydantic's website, and no word on
what the tool does take. Here the same failure becomes a `UserInputError`-style text: which
argument is wrong and why, then a hint listing the tool's arguments with their types and
bounds, so the next call can be right.
"""

from __future__ import annotations

from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from pydantic import ValidationError

from datamigration.redact import redact_text

#: At most this many problems are listed; the rest are counted.
MAX_PROBLEMS = 5


def _type_of(schema: dict[str, Any]) -> str:
    """`string`, `integer 1-500`, `array of string`, `object`, ... from a JSON Schema node."""
    options = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
    names = []
    for option in options:
        kind = option.get("type", "any")
        if isinstance(kind, list):  # trimmed schemas say ["string", "null"]
            kind = " or ".join(str(k) for k in kind if k != "null") or "any"
        if kind == "array" and isinstance(option.get("items"), dict):
            kind = f"array of {_type_of(option['items'])}"
        low = option.get("minimum", option.get("exclusiveMinimum"))
        high = option.get("maximum", option.get("exclusiveMaximum"))
        if low is not None or high is not None:
            kind += f" {'' if low is None else low}-{'' if high is None else high}"
        if option.get("enum"):
            kind = " | ".join(map(str, option["enum"]))
        names.append(kind)
    return " or ".join(names) or "any"


def arguments_hint(name: str, parameters: dict[str, Any]) -> str:
    """`tool takes: a* (string), b (integer 1-500), ... (* = required)`."""
    required = set(parameters.get("required") or ())
    props = parameters.get("properties") or {}
    listed = ", ".join(
        f"{arg}{'*' if arg in required else ''} ({_type_of(spec)})" for arg, spec in props.items()
    )
    return (
        f"{name} takes: {listed or 'no arguments'} (* = required). Call {name} again with "
        "arguments of those names and types."
    )


def describe_problems(exc: ValidationError) -> str:
    """`limit: Input should be ... ; text: Field required` without the rejected values."""
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in err.get("loc", ())) or "(arguments)"
        problems.append(f"{where}: {err.get('msg', 'invalid')}")
    extra = len(problems) - MAX_PROBLEMS
    shown = "; ".join(problems[:MAX_PROBLEMS])
    return shown + (f"; and {extra} more" if extra > 0 else "")


def argument_error(name: str, parameters: dict[str, Any], exc: ValidationError) -> ToolError:
    text = (
        f"Error executing tool {name}: UserInputError: invalid arguments: "
        f"{describe_problems(exc)}\nhint: {arguments_hint(name, parameters)}"
    )
    return ToolError(redact_text(text))


class DataMigrationServer(MCPServer):
    """MCPServer whose argument-validation failures carry a hint (see the module docstring)."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(exc, UnexpectedToolError) or not isinstance(cause, ValidationError):
                raise
            registered = self._tool_manager.get_tool(name)
            parameters = registered.parameters if registered is not None else {}
            raise argument_error(name, parameters, cause) from cause
