"""What the validation engine yields: a `RuleResult` per rule, the `ValidationRun` holding
them, and the report of a checksum diff (`DiffReport`).

Kept apart from `rules` and `diff` (which load sqlglot and the segment readers) so the MCP face
derives its answer types from them without paying for that machinery at every server start.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, NotRequired

from typing_extensions import TypedDict


@dataclass(frozen=True)
class RuleResult:
    id: str
    type: str
    passed: bool
    measured: Any
    threshold: Any
    message: str
    offending: list[Any] = field(default_factory=list)
    side: str | None = None
    table: str | None = None
    query: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ValidationRun:
    name: str
    results: tuple[RuleResult, ...]
    seconds: float
    source: str | None
    target: str | None
    started_at: str
    #: what the rules file should change (deprecated spellings), shown with the report
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed_count(self) -> int:
        return sum(not r.passed for r in self.results)

    @property
    def summary(self) -> str:
        n, bad = len(self.results), self.failed_count
        if not bad:
            return f"{self.name}: all {n} validation rules passed"
        failed = ", ".join(r.id for r in self.results if not r.passed)
        return f"{self.name}: {bad} of {n} validation rules failed ({failed})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "summary": self.summary,
            "passed_count": len(self.results) - self.failed_count,
            "failed_count": self.failed_count,
            "source": self.source,
            "target": self.target,
            "started_at": self.started_at,
            "seconds": round(self.seconds, 3),
            "results": [r.to_dict() for r in self.results],
            "notes": list(self.notes),
        }


class DiffSide(TypedDict):
    """One side of a checksum diff: where it ran (password redacted) and how it was hashed."""

    url: str
    table: str
    dialect: str
    rows: int
    hashing: str
    hashing_reason: str


class ChangedRow(TypedDict):
    key: Any
    fields: list[str]


class DiffReport(TypedDict):
    """What `diff.diff_tables` returns: the CLI prints it, rules and the MCP tool read it."""

    identical: bool
    source: DiffSide
    target: DiffSide
    key: list[str]
    columns: list[dict[str, Any]]  # each compared column: source and target name, kind
    missing: list[Any]  # keys, at most max_keys of each list
    extra: list[Any]
    changed: list[Any]
    changed_fields: list[ChangedRow]
    lagging: list[Any]
    missing_count: int
    extra_count: int
    changed_count: int
    lagging_count: int
    rows_compared: int
    rows_fetched: int
    segments_checked: int
    queries: int
    normalisation: dict[str, Any]
    columns_only_in_source: list[str]
    columns_only_in_target: list[str]
    seconds: float
    truncated: bool
    consistent_snapshot: bool
    lag: NotRequired[dict[str, Any]]  # lag-aware mode: the column and window
