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

    Every tool must return a TypedDict / pydantic model / dataclass so it has an output schema.
    """

    def decorator(fn: F) -> F:
        annotations = ToolAnnotations(
            title=title,
            read_only_hint=read_only,
            destructive_hint=False if read_only else destructive,
            idempotent_hint=True if read_only else idempotent,
            open_world_hint=open_world,
        )
        server.tool(
            name=name or fn.__name__,
            title=title,
            annotations=annotations,
            meta=LARGE_RESULT_META if large else None,
            structured_output=True,
        )(_wrap(fn))
        return fn

    return decorator
