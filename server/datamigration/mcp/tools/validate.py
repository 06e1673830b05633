"""MCP face of the validation engine: validate (rules file -> report), diff_data, generate_rules.

Thin: each tool calls one function of `datamigration.validate` in a worker thread (database
work blocks) and shapes the result into a TypedDict. Key lists are capped (`truncated`).
`validate` writes a report under the docs tree and records the outcome on the story, so it is
not read-only; running it again with the same inputs only rewrites the same report.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from mcp.server import MCPServer
from pydantic import Field
from typing_extensions import TypedDict

from datamigration.mcp.tooling import tool


class DiffSide(TypedDict):
    url: str
    table: str
    dialect: str
    rows: int
    hashing: str
    hashing_reason: str


class ChangedRow(TypedDict):
    key: Any
    fields: list[str]


class DiffOutput(TypedDict):
    identical: bool
    source: DiffSide
    target: DiffSide
    key: list[str]
    missing: list[Any]
    extra: list[Any]
    changed: list[Any]
    changed_fields: list[ChangedRow]
    lagging: list[Any]
    missing_count: int
    extra_count: int
    changed_count: int
    rows_compared: int
    rows_fetched: int
    normalisation: dict[str, Any]
    columns_only_in_source: list[str]
    columns_only_in_target: list[str]
    seconds: float
    truncated: bool


class RuleResultOutput(TypedDict):
    id: str
    type: str
    passed: bool
    measured: Any
    threshold: Any
    message: str
    offending: list[Any]


class ValidateOutput(TypedDict):
    passed: bool
    summary: str
    passed_count: int
    failed_count: int
    results: list[RuleResultOutput]
    report_json: str
    report_markdown: str
    story: str | None
    test_status: str | None


class GenerateRulesOutput(TypedDict):
    path: str | None
    rules: int
    content: dict[str, Any]


def register(server: MCPServer, runtime: Any) -> None:
    @tool(server, read_only=True, title="Checksum diff of a table across databases", large=True)
    async def diff_data(
        source_url: Annotated[str, Field(description="source database URL or connection name")],
        source_table: Annotated[str, Field(description="source table (or collection)")],
        target_url: Annotated[str, Field(description="target database URL or connection name")],
        target_table: Annotated[str, Field(description="target table or MongoDB collection")],
        key: Annotated[list[str] | None, Field(description="key columns (default: PK)")] = None,
        columns: Annotated[list[str] | None, Field(description="columns to compare")] = None,
        field_map: Annotated[
            dict[str, str] | None, Field(description="source column -> target name")
        ] = None,
        normalisation: Annotated[
            dict[str, Any] | None,
            Field(
                description="timestamp_precision (0-6), naive_timezone, unicode_nfc, "
                "null_equals_missing"
            ),
        ] = None,
        lag_column: Annotated[str | None, Field(description="updated_at-style column")] = None,
        lag_seconds: Annotated[
            float, Field(description="set aside rows changed this recently")
        ] = 0.0,
        max_keys: Annotated[int, Field(ge=1, le=10000, description="cap on listed keys")] = 200,
    ) -> DiffOutput:
        """Compare a table on two databases (PostgreSQL, MySQL/MariaDB, SQLite, MongoDB) by
        hashing key segments inside each database in parallel and bisecting only where they
        differ. Returns missing / extra / changed keys (capped, `truncated`), which fields
        changed, and how values were normalised. Read-only on both sides."""
        from datamigration.validate.canonical import Normalisation
        from datamigration.validate.diff import DiffOptions, diff_tables

        options = DiffOptions(
            key=tuple(key or ()),
            columns=tuple(columns or ()),
            field_map=dict(field_map or {}),
            normalisation=Normalisation.from_dict(normalisation) if normalisation else None,
            lag_column=lag_column,
            lag_seconds=lag_seconds,
            max_keys=max_keys,
        )
        report = await anyio.to_thread.run_sync(
            lambda: diff_tables(
                source_url, source_table, target_url, target_table, options, runtime.workspace
            )
        )
        return DiffOutput(**{k: report[k] for k in DiffOutput.__annotations__})  # type: ignore

    _register_rules_tools(server, runtime)


def _register_rules_tools(server: MCPServer, runtime: Any) -> None:
    """validate and generate_rules (defined with the rules engine)."""
