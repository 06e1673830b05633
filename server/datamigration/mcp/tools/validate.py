"""MCP face of the validation engine: validate (rules file -> report), diff_data, generate_rules.

Thin: each tool calls one function of `datamigration.validate` in a worker thread (database
work blocks) and returns its result, validated as the answer type derived from the engine's
result type (`shapes`), which keeps the keys it names: a rule result is the engine's RuleResult
without where it ran. Key lists are capped (`truncated`).
`validate` writes a report under the docs tree and records the outcome on the story, so it is
not read-only; running it again with the same inputs only rewrites the same report. A named
story is looked up before any rule runs, so a typo costs nothing. `generate_rules` never
overwrites a rules file a person may have edited unless asked to (`overwrite`).
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from mcp.server import MCPServer
from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

from datamigration.mcp.shapes import answer_type
from datamigration.mcp.tooling import tool
from datamigration.validate.report import ValidationReport
from datamigration.validate.results import DiffReport, RuleResult


class NormalisationArg(BaseModel):
    """The diff's normalisation options, typed so the client sees (and is held to) them.

    Unknown options are refused rather than ignored: a misspelt option silently ignored would
    make a diff compare differently from what the caller asked for."""

    model_config = ConfigDict(extra="forbid")

    timestamp_precision: int | None = Field(
        None, ge=0, le=6, description="fractional-second digits (3 for MongoDB)"
    )
    naive_timezone: str | None = Field(
        None, description="IANA zone of naive timestamps (default UTC)"
    )
    null_equals_missing: bool | None = Field(
        None, description="missing field equals NULL (default true)"
    )
    unicode_nfc: bool | None = Field(None, description="NFC-normalise text")
    trim_numeric_scale: bool | None = Field(None, description="1.50 equals 1.5 (default true)")


#: The engine's diff report without what the model does not act on (the column plan, the
#: segment and query counts, the lag window it passed itself).
DiffOutput = answer_type(
    "DiffOutput",
    DiffReport,
    omit=("columns", "lagging_count", "segments_checked", "queries", "lag"),
)
#: The engine's RuleResult without where the rule ran (the report files keep that).
RuleResultOutput = answer_type("RuleResultOutput", RuleResult, omit=("side", "table", "query"))
#: The engine's report of the run, each result as RuleResultOutput, without the run's name,
#: databases and timing (the report files keep those).
ValidateOutput = answer_type(
    "ValidateOutput",
    ValidationReport,
    {"results": list[RuleResultOutput]},
    omit=("name", "source", "target", "started_at", "seconds"),
)


class GenerateRulesOutput(TypedDict):
    path: str | None
    rules: int
    content: dict[str, Any]
    note: str | None  # the ${VAR} to set for a password the rules file does not hold


def register(server: MCPServer, runtime: Any) -> None:
    @tool(
        server,
        read_only=True,
        title="Checksum diff of a table across databases",
        pages="a smaller max_keys",
    )
    async def diff_data(
        source: str,
        source_table: Annotated[str, Field(description="or collection")],
        target: str,
        target_table: Annotated[str, Field(description="or collection")],
        key: Annotated[
            list[str] | None,
            Field(description="default: the primary key (_id)"),
        ] = None,
        columns: list[str] | None = None,
        field_map: Annotated[
            dict[str, str] | None,
            Field(description="source column -> target name"),
        ] = None,
        normalisation: Annotated[
            NormalisationArg | None,
            Field(description="defaults apply"),
        ] = None,
        lag_column: Annotated[str | None, Field(description="updated_at-style column")] = None,
        lag_seconds: Annotated[
            float, Field(description="set aside rows changed this recently")
        ] = 0.0,
        max_keys: Annotated[int, Field(ge=1, le=10000)] = 200,
    ) -> DiffOutput:
        """Compare a table across two databases by hashing and bisecting key ranges: missing,
        extra and changed keys (up to max_keys, then `truncated`), changed fields."""
        from datamigration.validate.canonical import Normalisation
        from datamigration.validate.diff import DiffOptions, diff_tables

        options = DiffOptions(
            key=tuple(key or ()),
            columns=tuple(columns or ()),
            field_map=dict(field_map or {}),
            normalisation=Normalisation.from_dict(normalisation.model_dump(exclude_none=True))
            if normalisation
            else None,
            lag_column=lag_column,
            lag_seconds=lag_seconds,
            max_keys=max_keys,
        )
        report = await anyio.to_thread.run_sync(
            lambda: diff_tables(
                source, source_table, target, target_table, options, runtime.workspace
            )
        )
        return report  # type: ignore[return-value]  # validated as DiffOutput: the keys it names

    _register_rules_tools(server, runtime)


def _register_rules_tools(server: MCPServer, runtime: Any) -> None:
    @tool(
        server,
        read_only=False,
        destructive=False,
        idempotent=True,
        title="Run a validation rules file",
    )
    async def validate(
        rules_file: Annotated[str, Field(description="YAML/JSON in the workspace")],
        story: Annotated[str | None, Field(description="record the verdict on this story")] = None,
        source: Annotated[str | None, Field(description="override")] = None,
        target: Annotated[str | None, Field(description="override")] = None,
    ) -> ValidateOutput:
        """Run a rules file against its databases (only reads them); writes reports under
        docs/validation/; with `story`, records its test_status (in-review needs a pass)."""
        from datamigration.validate.report import validate_file

        def work() -> ValidationReport:
            _check_story_first(runtime.workspace, rules_file, story)
            return validate_file(
                runtime.workspace, rules_file, story=story, source=source, target=target
            )

        # validated as ValidateOutput: the keys it names, each result as RuleResultOutput
        return await anyio.to_thread.run_sync(work)  # type: ignore[return-value]

    @tool(
        server,
        read_only=False,
        destructive=False,
        idempotent=True,
        title="Generate validation rules from a table's schema",
    )
    async def generate_rules(
        source: str,
        table: Annotated[str, Field(description="the migrated table")],
        target: str | None = None,
        target_table: Annotated[str | None, Field(description="if renamed")] = None,
        path: Annotated[str | None, Field(description="write the rules here")] = None,
        overwrite: Annotated[bool, Field(description="replace a different existing file")] = False,
    ) -> GenerateRulesOutput:
        """Validation rules from a table's schema (counts, NOT NULL, keys; with `target`
        fidelity and a diff); `path` writes YAML or .json. URLs keep passwords as ${VAR}
        (`note` says which)."""
        from datamigration.validate.generate import (
            password_note,
            rules_from_schema,
            write_rules_file,
        )

        ws = runtime.workspace

        def work() -> tuple[dict[str, Any], str | None]:
            doc = rules_from_schema(
                source, table, target_url=target, target_table=target_table, workspace=ws
            )
            return doc, write_rules_file(ws, path, doc, overwrite=overwrite) if path else None

        doc, written = await anyio.to_thread.run_sync(work)
        return GenerateRulesOutput(
            path=written, rules=len(doc["rules"]), content=doc, note=password_note(doc)
        )


def _check_story_first(workspace: Any, rules_file: str, story: str | None) -> None:
    """Fail before any rule runs when the story the verdict goes to does not exist."""
    from datamigration.coordination.status import get_story
    from datamigration.validate.rules import load_rules

    story = story or load_rules(workspace.resolve(rules_file)).get("story")
    if story:
        get_story(workspace, story)
