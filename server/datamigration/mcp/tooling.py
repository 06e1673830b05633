"""How every tool is registered: annotations always, our errors turned into tool errors.

`tool(...)` wraps an engine-calling function so that a DataMigrationError reaches the model as a
ToolError carrying the message and the hint (CLI wording rewritten for MCP, see `hints`), and
marks the tool read-only / destructive / idempotent. Every answer goes through the size guard of
`answers` (compact JSON, cut to the budget with `truncated` and `next`), and every published
schema is compacted (no generated titles, `["string", "null"]` instead of an `anyOf`, docstrings
on one line) so `tools/list` stays under 10k tokens. Registering through here is the only way
tools are added, so no tool can forget any of it.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.from_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import TypeAdapter

from datamigration.errors import ConfirmationRequiredError, DataMigrationError
from datamigration.mcp.answers import dumps, fit_answer
from datamigration.mcp.confirm import InputRequired
from datamigration.mcp.hints import for_mcp, message_for_mcp
from datamigration.redact import redact_text

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger(__name__)


def progress_notifier(ctx: Context) -> Callable[[str], None]:
    """For an engine running in a worker thread: each call sends the client one progress
    notification (numbered 1, 2, ...) with that message. Best effort: a failed notification is
    logged and never stops the work."""
    done = 0

    def notify(message: str) -> None:
        nonlocal done
        done += 1
        try:
            anyio.from_thread.run(ctx.report_progress, done, None, message)
        except Exception as exc:  # noqa: BLE001 - progress is best effort, never fatal
            log.debug("progress notification failed: %s", type(exc).__name__)

    return notify


def as_tool_error(exc: DataMigrationError) -> ToolError:
    """The model reads this text: the message, the hint, and the error class for branching.

    CLI wording becomes tool wording (`hints`); a confirmation's message is the exact action the
    user is asked about, so it goes out as written.
    """
    message, hint = exc.message, exc.hint
    if isinstance(exc, ConfirmationRequiredError):
        # The hint carries the token to pass back (random text, quoted): only its own words
        # are rewritten, the quoted token never is.
        hint = message_for_mcp(hint) if hint else hint
    else:
        message, hint = message_for_mcp(message), for_mcp(hint) if hint else hint
    text = f"{message}\nhint: {hint}" if hint else message
    return ToolError(redact_text(f"{type(exc).__name__}: {text}"))


class _Answer:
    """Turns a tool's return value into the answer sent: validated, fitted, compact, once."""

    def __init__(self, name: str, pages: str | None) -> None:
        self.name, self.pages = name, pages
        self.adapter: TypeAdapter[Any] | None = None  # set once the SDK built the output model

    def __call__(self, result: Any) -> Any:
        if self.adapter is None or isinstance(result, CallToolResult):
            return result
        validated = self.adapter.validate_python(result, by_alias=True, by_name=True)
        payload = self.adapter.dump_python(validated, mode="json", by_alias=True)
        payload = fit_answer(payload, self.name, self.pages)
        return CallToolResult(
            content=[TextContent(type="text", text=dumps(payload))], structured_content=payload
        )


def _wrap(fn: F, answer: _Answer) -> F:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return answer(await fn(*args, **kwargs))
            except InputRequired as pending:
                # 2026-07-28 elicitation: hand the question to the client, which calls again.
                return pending.result
            except DataMigrationError as exc:
                raise as_tool_error(exc) from exc

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return answer(fn(*args, **kwargs))
        except DataMigrationError as exc:
            raise as_tool_error(exc) from exc

    return wrapper  # type: ignore[return-value]


def compact_schema(node: Any, *, names: bool = False) -> Any:
    """The same JSON Schema in fewer characters: generated titles, `additionalProperties: true`
    and `default: null` dropped, `anyOf [{type: X}, {type: null}]` written as `type: [X, null]`.

    `names` marks a mapping whose keys are property or definition names (kept as they are).
    """
    if isinstance(node, list):
        return [compact_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    if names:  # a definition's own docstring explains code; its fields say what they take
        return {
            key: compact_schema({k: v for k, v in value.items() if k != "description"})
            if isinstance(value, dict) and "properties" in value
            else compact_schema(value)
            for key, value in node.items()
        }
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if (key == "additionalProperties" and value is True) or (
            key == "default" and value is None
        ):
            continue
        out[key] = compact_schema(value, names=key in {"properties", "$defs"})
    options = out.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        other = options[0] if options[1] == {"type": "null"} else options[1]
        if isinstance(other.get("type"), str):
            del out["anyOf"]
            out.update({**other, "type": [other["type"], "null"]})
    return out


def shallow_output_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The published output schema: top-level field types, nested objects as `object`.

    `required` is left out: every field of an answer is always present (null when it does not
    apply), which the docs say once instead of thirty schemas repeating every name. So is the
    type's own docstring (an engine's result type explains code; the tool's description and
    the field names say what the answer is).

    The answer is still validated against the full return type before it is sent; the schema
    only has to describe it truthfully, and nested definitions (a bus message, a diff side, a
    rule result...) cost a quarter of `tools/list` while no model reads them to call a tool.
    For the same reason a list of objects is published as a list.
    """

    def shallow(node: Any) -> Any:
        if isinstance(node, list):
            return [shallow(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node or "properties" in node:
            return {"type": "object"}
        out = {key: shallow(value) for key, value in node.items()}
        if out.get("items") in ({"type": "object"}, {}):
            del out["items"]  # "a list of objects" says no more than "a list" to a model
        return out

    dropped = {"$defs", "required", "description"}
    out = {key: value for key, value in schema.items() if key not in dropped}
    out["properties"] = {key: shallow(value) for key, value in schema["properties"].items()}
    return out


def one_line(doc: str) -> str:
    """A docstring as a description: paragraphs kept, the source's line breaks and indent not."""
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n".join(" ".join(p.split()) for p in paragraphs)


def tool(
    server: MCPServer,
    *,
    read_only: bool,
    destructive: bool = False,
    idempotent: bool = False,
    open_world: bool = False,
    title: str | None = None,
    name: str | None = None,
    pages: str | None = None,
) -> Callable[[F], F]:
    """Register `fn` on `server` with annotations, error translation and the answer-size guard.

    Every tool must return a TypedDict / pydantic model / dataclass so it has an output schema
    with named fields, and have a docstring (its description); registration refuses a tool
    without either, so the mistake shows up at import time rather than in a client. `pages`
    names the argument that gets the rest of a long answer (e.g. "offset=<next offset>"); the
    guard puts it in `next` when it has to cut an answer.
    """

    def decorator(fn: F) -> F:
        tool_name = name or fn.__name__
        if not (fn.__doc__ or "").strip():
            raise TypeError(f"tool {tool_name!r} needs a docstring: it is the tool's description")
        # The destructive and idempotent hints mean something only for a tool that writes
        # (MCP spec), so a read-only tool leaves them out rather than spend tools/list on them.
        annotations = ToolAnnotations(
            read_only_hint=read_only,
            destructive_hint=None if read_only else destructive,
            idempotent_hint=None if read_only else idempotent,
            open_world_hint=open_world,
        )
        answer = _Answer(tool_name, pages)
        server.tool(
            name=tool_name,
            title=title,
            description=one_line(fn.__doc__ or ""),
            annotations=annotations,
            structured_output=True,
        )(_wrap(fn, answer))
        # A bare `-> str` / `-> list` would be wrapped as {"result": ...}: refuse it, so every
        # output schema names its fields and a `truncated` flag has somewhere to live.
        registered = server._tool_manager.get_tool(tool_name)
        if registered is not None and registered.fn_metadata.wrap_output:
            server.remove_tool(tool_name)
            raise TypeError(
                f"tool {tool_name!r} must return a TypedDict, pydantic model or dataclass "
                "(its output schema), not a bare value"
            )
        if registered is not None:
            meta = registered.fn_metadata
            if meta.output_model is not None:
                answer.adapter = meta._output_adapter(meta.output_model)
                meta.output_schema = shallow_output_schema(compact_schema(meta.output_schema))
            registered.parameters = compact_schema(registered.parameters)
        return fn

    return decorator
