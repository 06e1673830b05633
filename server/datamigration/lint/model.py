"""Plain data shared by every part of the linter: statements, findings, options, reports.

Kept free of parser objects so that reports, the MCP tool and the CLI can pass findings around,
serialise them and compare them in tests without knowing how a dialect was parsed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from datamigration.db.dialect import lint_dialects

SEVERITIES = ("error", "warning", "info")
SEVERITY_RANK = {"error": 3, "warning": 2, "info": 1}
#: the dialects the linter knows, by their lint names (the dialect classes' `lint_dialect`)
DIALECTS = lint_dialects()


@dataclass(frozen=True)
class Statement:
    """One SQL statement as written: its text, where it starts, and the comments around it.

    `line`/`column` are 1-based and point at the first character of the statement proper
    (after leading comments and blank space). `comments` holds the `--`/`/* */` comments that
    precede it (or trail it on the same line) so inline ignores can be attached to it.
    """

    text: str
    line: int
    column: int
    end_line: int
    offset: int
    comments: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class Finding:
    """One problem in one statement, with the rewrite that makes it safe."""

    rule: str
    severity: str
    file: str
    line: int
    column: int
    message: str
    fix: str
    equivalents: dict[str, str]
    lock: str = ""
    table: str = ""
    statement: str = ""
    end_line: int = 0
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["notes"] = list(self.notes)
        return out


@dataclass(frozen=True)
class LintOptions:
    """What the linter assumes about how the file will be run."""

    dialect: str = "postgres"
    assume_in_transaction: bool = False
    pg_version: int = 15
    mysql_version: tuple[int, int] = (8, 0)
    sqlite_version: tuple[int, int] = (3, 45)
    #: live row estimates by table name (lower-case, unqualified and schema-qualified keys);
    #: None when no database was given, so severity stays static.
    table_rows: dict[str, int] | None = None
    #: live index coverage: table -> list of column tuples that lead an index.
    table_indexes: dict[str, list[tuple[str, ...]]] | None = None
    #: live column types: table -> {column: PgType}, so type changes are judged exactly.
    column_types: dict[str, dict[str, Any]] | None = None
    disabled_rules: frozenset[str] = frozenset()


@dataclass
class FileReport:
    """Findings of one input (a file or stdin), plus what was detected about it."""

    file: str
    dialect: str
    framework: str = "sql"
    statements: int = 0
    findings: list[Finding] = field(default_factory=list)


@dataclass
class LintReport:
    """All inputs of one lint run."""

    files: list[FileReport] = field(default_factory=list)
    traces: list[dict[str, Any]] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.files for f in r.findings]

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def has_errors(self) -> bool:
        return self.count("error") > 0
