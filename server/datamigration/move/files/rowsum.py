"""A table's row checksum in an export: the validation engine's canonical row hash, summed.

Each value is rendered to the canonical text of its column's kind (`validate.canonical`: the
same text the checksum diff hashes on every database), each row is hashed (`row_hash`) and the
hashes are summed, so the checksum does not depend on row order and can be computed on the
source while exporting and on the target after an import, whatever database each one is.
The kinds come from the source's declared types, on both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from datamigration.validate.canonical import (
    NULL_MARK,
    Normalisation,
    combine_kinds,
    kind_of,
    render,
    row_hash,
)

ALGORITHM = "canonical-row-md5-sum-v1"
_MASK = (1 << 64) - 1


def column_kinds(types: Sequence[str], dialect: str) -> tuple[str, ...]:
    """The canonical kind of each column from its source spelling (text where it says none)."""
    return tuple(combine_kinds(kind_of(t, dialect), None) for t in types)


def _renderer(kind: str, norm: Normalisation) -> Callable[[Any], str]:
    """`render` for one column, with the common cases (text as text, an int as digits) taken
    before its dispatch: the checksum is most of an export's time."""
    exact = {"text": str, "int": int}.get(kind)
    if exact is str and not norm.unicode_nfc:
        return lambda v: v if v.__class__ is str else render(v, kind, norm)
    if exact is int:
        return lambda v: str(v) if v.__class__ is int else render(v, kind, norm)

    def typed(v: Any) -> str:
        try:
            return render(v, kind, norm)
        except (ValueError, TypeError, ArithmeticError):
            # a value that is not of its column's type (SQLite keeps what it is given): its
            # text, on both sides, so that it is compared rather than fatal
            return render(v, "text", norm)

    return typed


class RowChecksum:
    """Count and order-free sum of canonical row hashes, fed batch by batch."""

    def __init__(self, kinds: Sequence[str]) -> None:
        self.kinds = tuple(kinds)
        self.norm = Normalisation()
        self.renderers = [_renderer(k, self.norm) for k in self.kinds]
        self.rows = 0
        self.total = 0

    def add(self, rows: Iterable[Sequence[Any]]) -> None:
        renderers, total = self.renderers, self.total
        for row in rows:
            texts = [NULL_MARK if v is None else r(v) for v, r in zip(row, renderers, strict=True)]
            total += row_hash(texts)
            self.rows += 1
        self.total = total & _MASK

    @property
    def value(self) -> str:
        return f"{self.total:016x}"
