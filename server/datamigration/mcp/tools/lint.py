"""MCP face of the migration linter: `lint_migration` (read-only).

Takes SQL text and/or workspace paths, returns the findings with the safe rewrite of each
statement. With a database it uses live table sizes for severity and can trace the locks each
statement takes on a scratch schema (always rolled back). Findings are paged (`offset`; a page
holds at most MAX_FINDINGS and fits the answer budget, `next` says where the rest starts).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio.to_thread
from mcp.server import MCPServer
from pydantic import Field
from typing_extensions import TypedDict

from datamigration.errors import UserInputError
from datamigration.lint import lint_paths
from datamigration.lint.model import LintOptions
from datamigration.lint.report import to_json, to_sarif
from datamigration.mcp.answers import fit_list
from datamigration.mcp.tooling import tool

#: Findings returned per call; the rest are counted and `truncated` is set.
MAX_FINDINGS = 200


class LintOutput(TypedDict):
    findings: list[dict[str, Any]]
    errors: int
    warnings: int
    infos: int
    files: list[dict[str, Any]]
    traces: list[dict[str, Any]]
    sarif: dict[str, Any] | None
    truncated: bool
    offset: int
    next: str | None


def register(server: MCPServer, runtime: Any) -> None:
    @tool(server, read_only=True, title="Lint migration SQL", pages="offset=<next finding>")
    async def lint_migration(
        sql: Annotated[
            str | None,
            Field(description="e.g. `alembic upgrade --sql` output"),
        ] = None,
        paths: Annotated[list[str] | None, Field(description="files or migration folders")] = None,
        dialect: Annotated[
            Literal["postgres", "mysql", "sqlite"] | None,
            Field(description="default: db's, else postgres"),
        ] = None,
        assume_in_transaction: Annotated[
            bool, Field(description="the framework wraps each in a transaction")
        ] = False,
        pg_version: int = 15,
        db: Annotated[
            str | None,
            Field(description="URL or connection name: table sizes set severity"),
        ] = None,
        trace: Annotated[
            bool,
            Field(description="with db: measure locks on a scratch copy"),
        ] = False,
        sarif: bool = False,
        offset: Annotated[int, Field(ge=0)] = 0,
    ) -> LintOutput:
        """Find long locks and breaking changes in migration SQL; each finding has its lock and
        a safe rewrite (`fix`). Paged (`offset`, `next`)."""
        if sql is None and not paths:
            raise UserInputError("nothing to lint", hint="Pass `sql` text or `paths`.")
        if trace and not db:
            raise UserInputError("trace needs a database", hint="Pass `db` too.")
        options = LintOptions(
            dialect=dialect or "postgres",
            assume_in_transaction=assume_in_transaction,
            pg_version=pg_version,
        )

        def work():
            if db:
                from datamigration.lint.live import lint_live

                return lint_live(
                    runtime.workspace,
                    paths or [],
                    options,
                    db,
                    trace=trace,
                    stdin_text=sql,
                    assume_given=assume_in_transaction,
                    auto_dialect=dialect is None,
                )
            return lint_paths(
                runtime.workspace,
                paths or [],
                options,
                stdin_text=sql,
                assume_given=assume_in_transaction,
            )

        report = await anyio.to_thread.run_sync(work)
        findings = to_json(report)
        page = findings[offset : offset + MAX_FINDINGS]
        out = LintOutput(
            findings=page,
            errors=report.count("error"),
            warnings=report.count("warning"),
            infos=report.count("info"),
            files=[
                {
                    "file": f.file,
                    "framework": f.framework,
                    "dialect": f.dialect,
                    "statements": f.statements,
                    "findings": len(f.findings),
                }
                for f in report.files
            ],
            traces=report.traces[:MAX_FINDINGS],
            sarif=to_sarif(report) if sarif else None,
            truncated=False,
            offset=offset,
            next=None,
        )
        kept = fit_list(out, "findings")  # type: ignore[arg-type]
        if offset + kept < len(findings):
            out["truncated"] = True
            out["next"] = f"call lint_migration again with offset={offset + kept}"
        return out
