"""What shadow reads found, and the gate a cutover or a contract step can require.

Every read (one sampled key of a table, one query run on both sides) counts once: equal, or a
mismatch however many of its columns differ. Up to `MAX_EXAMPLES` examples name the key, the
column and both values, with secrets masked: a column named like a credential shows `***`,
and any value goes through the same redaction as every other output.

The gate is `max_mismatches` over at least `min_reads` reads. A sample cannot read more rows
than a table has, so the reads asked for are capped by the reads possible (all rows of a
small table, every runnable query); a gate over no read at all fails (it proved nothing)
unless there was nothing to read (an empty table passes, and says so).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from datamigration.errors import UserInputError, ValidationFailedError
from datamigration.redact import MASK, is_secret_name, redact_text

MAX_EXAMPLES = 10
MAX_VALUE_CHARS = 200
#: what the canonical text of a field a document lacks is shown as
MISSING_FIELD = "\x1d"


class ShadowReadsFailedError(ValidationFailedError):
    """The shadow reads' gate failed: too many mismatches, or too few reads."""


@dataclass(frozen=True)
class Gate:
    """At most `max_mismatches` mismatching reads over at least `min_reads` reads."""

    max_mismatches: int = 0
    min_reads: int = 0

    def __post_init__(self) -> None:
        if self.max_mismatches < 0 or self.min_reads < 0:
            raise UserInputError(
                "max_mismatches and min_reads must be 0 or more",
                hint="e.g. max_mismatches=0, min_reads=10000: no mismatch over 10,000 reads.",
            )

    def verdict(self, reads: int, mismatches: int, possible: int) -> tuple[bool, str]:
        needed = min(self.min_reads, possible)
        if possible == 0:
            return True, "nothing there to read (empty tables, no runnable query)"
        if reads == 0:
            return False, "no read was compared: the gate proves nothing"
        if reads < needed:
            return False, f"{reads:,} read(s) compared, {needed:,} needed"
        if mismatches > self.max_mismatches:
            return False, f"{mismatches:,} mismatch(es), at most {self.max_mismatches:,} allowed"
        capped = " (all there were)" if needed < self.min_reads else ""
        return True, (
            f"{mismatches:,} mismatch(es) over {reads:,} read(s){capped}, "
            f"at most {self.max_mismatches:,} allowed"
        )


def shown(value: Any, column: str) -> Any:
    """A value as an example shows it: masked for a credential column, redacted, cut."""
    if value is None:
        return None
    if is_secret_name(column):
        return MASK
    if value == MISSING_FIELD:
        return "(no such field)"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = redact_text(text)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"


@dataclass
class Tally:
    """Reads, mismatches and examples across every part of one shadow run."""

    reads: int = 0
    mismatches: int = 0
    #: the reads that could have been made (rows of the sampled tables, runnable queries)
    possible: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    parts: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def example(self, where: str, key: Any, column: str, source: Any, target: Any) -> None:
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append({
                "where": where, "key": key, "column": column,
                "source": shown(source, column), "target": shown(target, column),
            })  # fmt: skip

    def part(self, what: str, reads: int, mismatches: int, possible: int, **extra: Any) -> None:
        """Close one part (a table by key, a query file): its figures join the totals."""
        self.reads += reads
        self.mismatches += mismatches
        self.possible += possible
        self.parts.append({"what": what, "reads": reads, "mismatches": mismatches, **extra})

    def skip(self, what: str, why: str) -> None:
        self.skipped.append({"what": redact_text(what)[:MAX_VALUE_CHARS], "why": why})
