"""How every tool is registered: annotations always, our errors turned into tool errors.

`tool(...)` wraps an engine-calling function so that a DataMigrationError reaches the model as a
ToolError carrying the message and the hint, and marks the tool read-only / destructive /
idempotent. Registering through here is the only way tools are added, so no tool can forget
either part.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

from datamigration.errors import DataMigrationError
from datamigration.mcp.confirm import InputRequired
from datamigration.redact import redact_text

F = TypeVar("F", bound=Callable[..., Any])

#: Raised cap for tools whose results may be long (Claude Code reads this _meta key).
LARGE_RESULT_META = {"anthropic/maxResultSizeChars": 200_000}


def as_tool_error(exc: DataMigrationError) -> ToolError:
    """The model reads this text: the message, the hint, and the error class for branching."""
    return ToolError(redact_text(f"{type(exc).__name__}: {exc.render()}"))


def _wrap(fn: F) -> F:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except InputRequired as pending:
                # 2026-07-28 elicitation: hand the question to the client, which calls again.
                return pending.result
            except DataMigrationError as exc:
                raise as_tool_error(exc) from exc

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DataMigrationError as exc:
            raise as_tool_error(exc) from exc

    return wrapper  # type: ignore[return-value]


def tool(
    server: MCPServer,
    *,
    read_only: bool,
    destructive: bool = False,
    idempotent: bool = False,
    open_world: bool = False,
    title: str | None = None,
    name: str | None = None,
    large: bool = False,
) -> Callable[[F], F]:
    """Register `fn` on `server` with annotations and error translation.

    Every tool must return a TypedDict / pydantic model / dataclass so it has an output schema
    with named fields, and have a docstring (its description); registration refuses a tool
    without either, so the mistake shows up at import time rather than in a client.
    """

    def decorator(fn: F) -> F:
        tool_name = name or fn.__name__
        if not (fn.__doc__ or "").strip():
            raise TypeError(f"tool {tool_name!r} needs a docstring: it is the tool's description")
        annotations = ToolAnnotations(
            title=title,
            read_only_hint=read_only,
            destructive_hint=False if read_only else destructive,
            idempotent_hint=True if read_only else idempotent,
            open_world_hint=open_world,
        )
        server.tool(
            name=tool_name,
            title=title,
            annotations=annotations,
            meta=LARGE_RESULT_META if large else None,
            structured_output=True,
        )(_wrap(fn))
        # A bare `-> str` / `-> list` would be wrapped as {"result": ...}: refuse it, so every
        # output schema names its fields and a `truncated` flag has somewhere to live.
        registered = server._tool_manager.get_tool(tool_name)
        if registered is not None and registered.fn_metadata.wrap_output:
            server.remove_tool(tool_name)
            raise TypeError(
                f"tool {tool_name!r} must return a TypedDict, pydantic model or dataclass "
                "(its output schema), not a bare value"
            )
        return fn

    return decorator
