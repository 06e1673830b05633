"""A table's row checksum in an export: the validation engine's canonical row hash, summed.

Each value is rendered to the canonical text of its column's kind (`validate.canonical`: the
same text the checksum diff hashes on every database), each row is hashed (`row_hash`) and the
hashes are summed, so the checksum does not depend on row order and can be computed on the
source while exporting and on the target after an import, whatever database each one is.
The kinds come from the source's declared types, on both sides.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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


class RowChecksum:
    """Count and order-free sum of canonical row hashes, fed batch by batch."""

    def __init__(self, kinds: Sequence[str]) -> None:
        self.kinds = tuple(kinds)
        self.norm = Normalisation()
        self.rows = 0
        self.total = 0

    def add(self, rows: Iterable[Sequence[Any]]) -> None:
        kinds, norm = self.kinds, self.norm
        for row in rows:
            texts = [
                NULL_MARK if v is None else render(v, k, norm)
                for v, k in zip(row, kinds, strict=True)
            ]
            self.total = (self.total + row_hash(texts)) & _MASK
            self.rows += 1

    @property
    def value(self) -> str:
        return f"{self.total:016x}"
