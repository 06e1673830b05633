"""MCP face of the workspace engine: read, write, edit, glob, grep, run, find_migrations.

Thin by design: each tool parses its arguments, calls one function of
`datamigration.workspace`, and returns its dataclass result: the output schema is derived from
it (`shapes`), paged answers adding only `next`.
Confirmation for `run` outside the allow-list and for changes to the workspace policy file goes
through `confirm`, which asks the user (or hands back a token) before anything happens. A
listed command that runs workspace code (pytest, alembic) asks too, until the user confirmed
that command line and the workspace is unchanged since (`codetrust`, held per server).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Annotated, Any

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import Field
from typing_extensions import TypedDict

from datamigration.confirmation import Action
from datamigration.mcp.answers import ANSWER_BUDGET_CHARS, fit_list, size
from datamigration.mcp.confirm import confirm
from datamigration.mcp.shapes import answer_type
from datamigration.mcp.tooling import tool
from datamigration.workspace import files, frameworks, runner, search
from datamigration.workspace.codetrust import CodeTrust

#: find_migrations lists at most this many files per folder (with `truncated`).
MAX_FILES_PER_SET = 1000


#: Answers that page add `next` (the call that gets the rest) to the engine's result.
PAGE = {"next": str | None}
ReadOutput = answer_type("ReadOutput", files.ReadResult, PAGE)
GlobOutput = answer_type("GlobOutput", search.GlobResult, PAGE)
GrepOutput = answer_type("GrepOutput", search.GrepResult, PAGE)


class FindMigrationsOutput(TypedDict):
    sets: list[frameworks.MigrationSet]  # each listing at most MAX_FILES_PER_SET files
    truncated: bool


OffsetArg = Annotated[int, Field(ge=0)]


def _plain(obj: Any) -> Any:
    return dataclasses.asdict(obj)


def _page(found: dict[str, Any], key: str, tool_name: str, offset: int) -> Any:
    """Results `offset`.. of `found[key]`, as many as fit one answer; `next` names the rest."""
    items = found[key]
    found[key] = items[offset:]
    wanted = len(found[key])
    found["next"] = None
    kept = fit_list(found, key)
    if kept < wanted or found["truncated"]:
        found["truncated"] = True
        found["next"] = f"call {tool_name} again with offset={offset + kept}"
    return found


def _read_page(page: files.ReadResult) -> Any:
    """The lines of `page` that fit one answer, cut at a line end; `next` names the rest."""
    out = _plain(page)
    out["next"] = None
    if size(out) > ANSWER_BUDGET_CHARS - 400:
        parts = out["content"].split("\n")  # file lines: only "\n" ends one (not "\r", "\f")
        lines = [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
        out["content"] = lines  # fit the lines as a list, then join what was kept
        kept = max(fit_list(out, "content"), 1)
        out["content"] = "".join(lines[:kept])
        out["end_line"] = page.start_line + kept - 1
        out["truncated"] = out["end_line"] < page.total_lines
    if out["truncated"]:
        out["next"] = f"call read again with offset={out['end_line'] + 1}"
    return out


def register(server: MCPServer, runtime: Any) -> None:
    def ws() -> Any:
        return runtime.workspace

    trust = CodeTrust()  # what the user confirmed `run` to execute, for this server's lifetime

    @tool(server, read_only=True, title="Read a file", name="read", pages="offset=end_line + 1")
    def read_tool(
        path: Annotated[str, Field(description="relative to the workspace root")],
        offset: Annotated[int, Field(description="first line (1-based)")] = 1,
        limit: int | None = None,
    ) -> ReadOutput:
        """Read a text file: up to `limit` lines (2000) that fit one answer; paged (`offset`,
        `next`). Binary and huge files are refused."""
        return _read_page(files.read_file(ws(), path, offset=offset, limit=limit))

    @tool(
        server,
        read_only=False,
        destructive=True,
        idempotent=True,
        title="Write a file",
        name="write",
    )
    async def write_tool(
        path: Annotated[str, Field(description="relative to the workspace root")],
        content: Annotated[str, Field(description="the whole new content")],
        ctx: Context,
        confirm_token: str | None = None,
    ) -> files.WriteResult:
        """Create or overwrite a text file atomically. Paths outside the workspace or into .git
        are refused; changing datamigration.toml (the run policy) needs confirmation."""
        digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
        confirmed = await _confirm_policy_change(
            ctx, path, "write", confirm_token, {"sha256": digest}
        )
        return files.write_file(ws(), path, content, confirmed=confirmed)

    @tool(server, read_only=False, destructive=False, title="Edit a file", name="edit")
    async def edit_tool(
        path: Annotated[str, Field(description="relative to the workspace root")],
        old: Annotated[str, Field(description="exact text, unique unless replace_all")],
        new: str,
        ctx: Context,
        replace_all: bool = False,
        confirm_token: str | None = None,
    ) -> files.EditResult:
        """Replace exact text in a file; the policy file needs confirmation. A missing or
        repeated `old` is refused: add surrounding text to make it unique."""
        confirmed = await _confirm_policy_change(
            ctx, path, "edit", confirm_token, {"old": old, "new": new, "all": replace_all}
        )
        return files.edit_file(ws(), path, old, new, replace_all=replace_all, confirmed=confirmed)

    @tool(server, read_only=True, title="Find files by pattern", name="glob", pages="offset")
    def glob_tool(
        pattern: Annotated[str, Field(description="e.g. 'migrations/*.sql', '**/*.py', {a,b}")],
        base: str = ".",
        limit: int = search.DEFAULT_GLOB_LIMIT,
        offset: OffsetArg = 0,
    ) -> GlobOutput:
        """Files matching a glob (paged: `offset`, `next`); .git, virtualenvs and symlinked
        directories are skipped."""
        found = _plain(search.glob_files(ws(), pattern, base=base, limit=offset + limit))
        return _page(found, "files", "glob", offset)

    @tool(server, read_only=True, title="Search file contents", name="grep", pages="offset")
    def grep_tool(
        regex: Annotated[str, Field(description="RE2: no backreferences or lookaround")],
        path: str = ".",
        glob: Annotated[str | None, Field(description="only matching files, e.g. '*.sql'")] = None,
        ignore_case: bool = False,
        files_only: Annotated[bool, Field(description="only names of matching files")] = False,
        limit: int = search.DEFAULT_GREP_LIMIT,
        offset: OffsetArg = 0,
    ) -> GrepOutput:
        """Search text files for a regex, line by line; skips binary and huge files, .git,
        virtualenvs, node_modules. Paged (`offset`, `next` when `truncated`)."""
        found = _plain(
            search.grep_files(
                ws(),
                regex,
                path=path,
                glob=glob,
                ignore_case=ignore_case,
                limit=offset + limit,
                files_only=files_only,
            )
        )
        return _page(found, "files_matched" if files_only else "matches", "grep", offset)

    @tool(
        server,
        read_only=False,
        destructive=True,
        open_world=False,
        title="Run a command",
        name="run",
    )
    async def run_tool(
        command: Annotated[str, Field(description="split like a POSIX shell, run without one")],
        ctx: Context,
        shell: Annotated[bool, Field(description="run in bash -c (always confirmed)")] = False,
        timeout: Annotated[float | None, Field(description="seconds")] = None,
        confirm_token: str | None = None,
    ) -> runner.RunResult:
        """Run a command in the workspace (timeout, output cap, no secrets in env). Allow-listed
        read-only commands (ls, cat, git diff...) run directly; listed ones running workspace
        code (pytest, alembic) need confirmation, again after a file changes; others always do.
        Non-zero exits are in exit_code."""
        workspace = ws()
        policy = runner.RunPolicy.from_workspace(workspace)
        argv = ["bash", "-c", command] if shell else runner.parse_command(command)
        decision = await anyio.to_thread.run_sync(
            lambda: runner.check_policy(workspace, argv, shell=shell, policy=policy, trust=trust)
        )
        if not decision.allowed:
            payload: dict[str, Any] = {"argv": argv, "shell": shell, "cwd": str(workspace.root)}
            if decision.state:
                # Bound to the files as they are now: a token or an answer given for this state
                # cannot be spent after the model changed a file.
                payload["workspace_state"] = decision.state
            action = Action(
                "run", f"run `{command}` in {workspace.root} ({decision.reason})", payload
            )
            await confirm(ctx, runtime, action, confirm_token)
        result = await anyio.to_thread.run_sync(
            lambda: runner.run_command(
                workspace,
                command,
                shell=shell,
                timeout=timeout,
                confirmed=True,
                policy=policy,
                trust=trust,
                confirmed_state=decision.state,
            )
        )
        return dataclasses.replace(result, confirmed=not decision.allowed)

    @tool(server, read_only=True, title="Find migration folders", name="find_migrations")
    def find_migrations_tool() -> FindMigrationsOutput:
        """Migration folders, their framework and their files in apply order."""
        sets = []
        truncated = False
        for ms in frameworks.detect_migrations(ws()):
            listed = ms.files[:MAX_FILES_PER_SET]
            truncated = truncated or len(ms.files) > MAX_FILES_PER_SET
            sets.append(dataclasses.replace(ms, files=listed))
        return FindMigrationsOutput(sets=sets, truncated=truncated)

    async def _confirm_policy_change(
        ctx: Context,
        path: str,
        kind: str,
        token: str | None,
        extra: dict[str, Any] | None = None,
    ) -> bool:
        reason = files.change_needs_confirmation(ws(), path)
        if reason is None:
            return False
        payload = {"path": path, **(extra or {})}
        await confirm(ctx, runtime, Action(kind, f"{kind} {path}: {reason}", payload), token)
        return True
