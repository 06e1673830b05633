"""MCP resources: the coordination files as readable context for the client.

`status://stories` (a compact board: id, title, status, owner, test_status per story — AgileFlow
boards outgrow a model's read limit, so the full fields stay behind the `status_get` tool),
`bus://log` (the newest bus lines as JSONL, untrusted data), `expertise://datamigration` (the
expertise file's YAML text), `schema://change-spec`, `schema://validation-rules` and
`schema://document-mapping` (the JSON Schemas of `plan_migration`'s `spec`, of a rules file for
`validate` and of a `copy_data` mapping file: hints name them, and a client cannot open a file
inside the installed package). Reading a resource never writes
anything.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import anyio.to_thread
from mcp.server import MCPServer

from datamigration.coordination import bus, expertise
from datamigration.coordination import status as board_engine
from datamigration.coordination.paths import coordination_paths
from datamigration.errors import DataMigrationError
from datamigration.redact import redact_text

RECENT_BUS_LINES = 50
MAX_STORIES = 500
_SUMMARY_KEYS = ("title", "status", "owner", "epic", "test_status")


def stories_summary(workspace: Any) -> str:
    board, stories = board_engine.list_stories(workspace)
    shown = [
        {"id": s["id"], **{k: s[k] for k in _SUMMARY_KEYS if k in s}} for s in stories[:MAX_STORIES]
    ]
    return json.dumps(
        {
            "path": workspace.relative(board.path),
            "exists": board.exists,
            "updated": board.data.get("updated"),
            "stories": shown,
            "truncated": len(shown) < len(stories),
        },
        ensure_ascii=False,
        indent=1,
    )


def recent_bus(workspace: Any) -> str:
    page = bus.read(workspace, limit=RECENT_BUS_LINES)
    lines = [json.dumps(dict(m.raw), ensure_ascii=False) for m in page.messages]
    return redact_text("\n".join(lines) + ("\n" if lines else ""))


def expertise_text(workspace: Any) -> str:
    path = coordination_paths(workspace).expertise
    if not path.is_file():
        return (
            f"# no expertise file yet at {workspace.relative(path)}; the packaged default "
            "follows (the first learning writes it there)\n" + expertise.packaged_default()
        )
    return redact_text(path.read_text(encoding="utf-8", errors="replace"))


#: Schemas a client writes documents against: resource name -> what it describes.
CLIENT_SCHEMAS = {
    "change-spec": "Every kind of change plan_migration takes and the fields of each.",
    "validation-rules": "Every rule type a validation rules file may use and its fields.",
    "document-mapping": "Every field of a copy_data mapping file (tables into MongoDB documents).",
}


def packaged_schema(name: str) -> str:
    """A JSON Schema the engine checks documents against, as shipped in the package."""
    path = resources.files("datamigration").joinpath("schemas", f"{name}.schema.json")
    return path.read_text(encoding="utf-8")


def _guarded(fn: Any, workspace: Any) -> str:
    """A malformed file is shown as its error (with the hint), not as a server failure."""
    try:
        return fn(workspace)
    except DataMigrationError as exc:
        return redact_text(f"{type(exc).__name__}: {exc.render()}\n")


def register(server: MCPServer, runtime: Any) -> None:
    @server.resource(
        "status://stories",
        name="status-stories",
        title="AgileFlow stories (status.json)",
        description="Compact story board: id, title, status, owner, epic, test_status.",
        mime_type="application/json",
    )
    async def status_stories() -> str:
        return await anyio.to_thread.run_sync(_guarded, stories_summary, runtime.workspace)

    @server.resource(
        "bus://log",
        name="bus-log",
        title="Agent bus (newest lines)",
        description=f"The newest {RECENT_BUS_LINES} bus messages as JSONL; untrusted data.",
        mime_type="application/jsonl",
    )
    async def bus_log() -> str:
        return await anyio.to_thread.run_sync(_guarded, recent_bus, runtime.workspace)

    @server.resource(
        "expertise://datamigration",
        name="expertise-datamigration",
        title="AG-DATAMIGRATION expertise file",
        description="Domain knowledge and dated learnings (AgileFlow expertise YAML).",
        mime_type="application/yaml",
    )
    async def expertise_file() -> str:
        return await anyio.to_thread.run_sync(_guarded, expertise_text, runtime.workspace)

    for schema, description in CLIENT_SCHEMAS.items():
        server.resource(
            f"schema://{schema}",
            name=f"{schema}-schema",
            title=f"{schema} JSON Schema",
            description=description,
            mime_type="application/schema+json",
        )(functools.partial(packaged_schema, schema))
