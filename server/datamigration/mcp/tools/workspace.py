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


OffsetArg = Annotated[int, Field(description="Results to skip (paging)", ge=0)]


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
        path: Annotated[str, Field(description="File path, relative to the workspace root")],
        offset: Annotated[int, Field(description="First line to return (1-based)")] = 1,
        limit: Annotated[int | None, Field(description="Most lines to return")] = None,
    ) -> ReadOutput:
        """Read a text file in the workspace: at most `limit` lines (2000) that fit one answer;
        paged (`offset`, `next`). Binary and huge files are refused."""
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
        path: Annotated[str, Field(description="File path, relative to the workspace root")],
        content: Annotated[str, Field(description="The complete new content of the file")],
        ctx: Context,
        confirm_token: Annotated[
            str | None, Field(description="Token from a previous confirmation request")
        ] = None,
    ) -> files.WriteResult:
        """Create or overwrite a text file atomically (parents are created).

        Paths outside the workspace, through escaping symlinks or into .git are refused.
        Changing datamigration.toml (the run policy) needs the user's confirmation.
        """
        digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
        confirmed = await _confirm_policy_change(
            ctx, path, "write", confirm_token, {"sha256": digest}
        )
        return files.write_file(ws(), path, content, confirmed=confirmed)

    @tool(server, read_only=False, destructive=False, title="Edit a file", name="edit")
    async def edit_tool(
        path: Annotated[str, Field(description="File path, relative to the workspace root")],
        old: Annotated[str, Field(description="Exact text to replace (must be unique)")],
        new: Annotated[str, Field(description="Replacement text")],
        ctx: Context,
        replace_all: Annotated[
            bool, Field(description="Replace every occurrence instead of exactly one")
        ] = False,
        confirm_token: Annotated[
            str | None, Field(description="Token from a previous confirmation request")
        ] = None,
    ) -> files.EditResult:
        """Replace exact text in a file. Refuses when `old` is missing or occurs more than once
        (unless replace_all); add surrounding text to make the match unique."""
        confirmed = await _confirm_policy_change(
            ctx, path, "edit", confirm_token, {"old": old, "new": new, "all": replace_all}
        )
        return files.edit_file(ws(), path, old, new, replace_all=replace_all, confirmed=confirmed)

    @tool(server, read_only=True, title="Find files by pattern", name="glob", pages="offset")
    def glob_tool(
        pattern: Annotated[
            str, Field(description="Glob like 'migrations/*.sql' or '**/*.py' ({a,b} allowed)")
        ],
        base: Annotated[str, Field(description="Directory to search from")] = ".",
        limit: Annotated[
            int, Field(description="Most paths to return")
        ] = search.DEFAULT_GLOB_LIMIT,
        offset: OffsetArg = 0,
    ) -> GlobOutput:
        """List files matching a glob, relative to the workspace root (paged: `offset`, `next`).
        Symlinked directories, .git and virtualenvs are not searched."""
        found = _plain(search.glob_files(ws(), pattern, base=base, limit=offset + limit))
        return _page(found, "files", "glob", offset)

    @tool(server, read_only=True, title="Search file contents", name="grep", pages="offset")
    def grep_tool(
        regex: Annotated[
            str, Field(description="Regular expression (RE2: no backreferences or lookaround)")
        ],
        path: Annotated[str, Field(description="File or directory to search")] = ".",
        glob: Annotated[
            str | None, Field(description="Only files matching this glob, e.g. '*.sql'")
        ] = None,
        ignore_case: bool = False,
        files_only: Annotated[
            bool, Field(description="Return only the names of files that match")
        ] = False,
        limit: Annotated[
            int, Field(description="Most matching lines (or files) to return")
        ] = search.DEFAULT_GREP_LIMIT,
        offset: OffsetArg = 0,
    ) -> GrepOutput:
        """Search text files for a regex, line by line. Skips binary and very large files,
        .git, virtualenvs and node_modules; paged (`offset`, `next` when `truncated`)."""
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
        command: Annotated[
            str, Field(description="Command line, split like a POSIX shell but run without one")
        ],
        ctx: Context,
        shell: Annotated[
            bool, Field(description="Run through bash -c (always needs confirmation)")
        ] = False,
        timeout: Annotated[float | None, Field(description="Seconds before it is killed")] = None,
        confirm_token: Annotated[
            str | None, Field(description="Token from a previous confirmation request")
        ] = None,
    ) -> runner.RunResult:
        """Run a command in the workspace root with a timeout, an output cap and an environment
        without secrets. Read-only commands of the [run] allow-list (ls, cat, git status/diff/
        log...) run directly. Listed commands that execute workspace code (pytest, alembic)
        ask the user until that exact command was confirmed and no file changed since; anything
        else always asks. A non-zero exit is reported in exit_code, not as an error."""
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
        """Migration folders in the workspace and their framework (alembic, flyway, django,
        rails, prisma, knex, sql), each with its files in apply order."""
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
