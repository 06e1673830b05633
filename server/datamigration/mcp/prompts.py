"""The MCP prompts `plan-migration`, `migration-status` and `adr-new` (slash commands in clients).

The model cannot call prompts itself, so the plugin ships the same commands as markdown in
`commands/`. One text serves both: the package holds the command files verbatim
(`datamigration/data/prompts/<name>.md`, front matter + body with `$ARGUMENTS`), a test checks
they equal `commands/<name>.md`, and here the front matter gives the description while the
prompt's arguments are joined into `$ARGUMENTS` the way a user would type them after the command.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Any

import yaml
from mcp.server import MCPServer
from pydantic import Field

from datamigration.errors import FileFormatError

PROMPT_NAMES = ("plan-migration", "migration-status", "adr-new")


@dataclass(frozen=True)
class PromptText:
    name: str
    description: str
    argument_hint: str
    body: str

    def render(self, arguments: str) -> str:
        return self.body.replace("$ARGUMENTS", arguments.strip() or "(none given)")


def load_prompt(name: str) -> PromptText:
    """Read `data/prompts/<name>.md`: YAML front matter between `---` lines, then the body."""
    text = (
        resources.files("datamigration")
        .joinpath("data", "prompts", f"{name}.md")
        .read_text(encoding="utf-8")
    )
    path = f"datamigration/data/prompts/{name}.md"
    if not text.startswith("---\n"):
        raise FileFormatError(
            f"{path}: no front matter", path=path, line=1, problem="missing front matter"
        )
    end = text.find("\n---\n", 4)
    if end < 0:
        raise FileFormatError(
            f"{path}: front matter is not closed", path=path, line=1, problem="unclosed"
        )
    meta: dict[str, Any] = yaml.safe_load(text[4:end]) or {}
    return PromptText(
        name=name,
        description=str(meta.get("description", "")),
        argument_hint=str(meta.get("argument-hint", "")),
        body=text[end + len("\n---\n") :].lstrip("\n"),
    )


def _join(*parts: str | None) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


def register(server: MCPServer, runtime: Any) -> None:
    plan = load_prompt("plan-migration")
    board = load_prompt("migration-status")
    adr = load_prompt("adr-new")

    @server.prompt(name="plan-migration", title="Plan a migration", description=plan.description)
    def plan_migration(
        request: Annotated[
            str,
            Field(description="what to change, e.g. 'rename users.email to email_address'"),
        ],
        story: Annotated[
            str | None, Field(description="story id this belongs to, e.g. US-0042")
        ] = None,
    ) -> str:
        return plan.render(_join(request, f"--story {story}" if story else None))

    @server.prompt(name="migration-status", title="Migration status", description=board.description)
    def status_prompt(
        story: Annotated[
            str | None, Field(description="one story id; omit for all open migration stories")
        ] = None,
        all: Annotated[bool, Field(description="include stories that are done")] = False,
        status: Annotated[
            str | None,
            Field(description="move `story` to this status (e.g. in-progress); omit to show"),
        ] = None,
        summary: Annotated[
            str | None, Field(description="with `status`: one or two lines on the story")
        ] = None,
    ) -> str:
        if status:
            # AgileFlow's KEY=value form, as a user types it after the slash command.
            quoted = f'SUMMARY="{summary.strip()}"' if summary and summary.strip() else None
            return board.render(_join(f"STORY={story or ''}", f"STATUS={status}", quoted))
        return board.render(_join(story, "--all" if all else None))

    @server.prompt(name="adr-new", title="New ADR", description=adr.description)
    def adr_new(
        title: Annotated[
            str, Field(description="the decision, e.g. 'Use dual-write to move orders'")
        ],
        story: Annotated[str | None, Field(description="story id the decision belongs to")] = None,
    ) -> str:
        return adr.render(_join(title, f"--story {story}" if story else None))
