"""Read-only row reads for the document builder: the child rows of a batch of parents, one
query per embedded table.

They run on the validator's read-only connection (`db.segments.open_reader`), so building
documents can never write to the source. The SQL is plain and portable (`IN` for a one-column
key, an OR of conjunctions for composite keys, a window `row_number()` for a per-parent limit)
with identifiers quoted by the dialect.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

from datamigration.db.dialect import dialect_of
from datamigration.db.segments import Reader, open_reader

#: parents per IN list (a batch larger than this is fetched in several queries)
IN_CHUNK = 1000


class SQLFetcher:
    """Child fetches on one read-only connection (close it when done)."""

    def __init__(self, url: str, workspace: Any | None = None) -> None:
        self.reader: Reader = open_reader(url, workspace)
        self.d = dialect_of(self.reader.dialect)
        self.queries = 0

    def close(self) -> None:
        self.reader.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _q(self, name: str) -> str:
        return ".".join(self.d.quote_part(p) for p in name.split("."))

    def _rows(self, sql: str, params: list[Any], names: Sequence[str]) -> list[dict[str, Any]]:
        self.queries += 1
        return [dict(zip(names, r, strict=True)) for r in self.reader.rows(sql, params)]  # type: ignore[attr-defined]

    def __call__(
        self,
        table: str,
        columns: Sequence[str],
        match: Sequence[str],
        keys: Sequence[tuple[Any, ...]],
        order_by: Sequence[tuple[str, str]],
        limit: int | None,
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i in range(0, len(keys), IN_CHUNK):
            chunk = keys[i : i + IN_CHUNK]
            sql = self._select(len(chunk), table, columns, match, order_by, limit)
            out.extend(self._rows(sql, [v for k in chunk for v in k], columns))
        return out

    def _select(self, parents: int, table: str, columns: Sequence[str], match: Sequence[str],
                order_by: Sequence[tuple[str, str]], limit: int | None) -> str:  # fmt: skip
        """The query for the children of `parents` parents (their key values are the params)."""
        ph = self.d.placeholder
        if len(match) == 1:
            where = f"{self._q(match[0])} IN ({', '.join([ph] * parents)})"
        else:
            one = "(" + " AND ".join(f"{self._q(c)} = {ph}" for c in match) + ")"
            where = "(" + " OR ".join([one] * parents) + ")"
        order = [self._q(c) for c in match]
        order += [f"{self._q(c)} {'DESC' if o == 'desc' else 'ASC'}" for c, o in order_by]
        cols = ", ".join(self._q(c) for c in columns)
        if limit is None:
            return f"SELECT {cols} FROM {self._q(table)} WHERE {where} ORDER BY {', '.join(order)}"
        within = ", ".join(order[len(match) :]) or ", ".join(order)
        ranked = (
            f"SELECT {cols}, row_number() OVER (PARTITION BY "
            f"{', '.join(self._q(c) for c in match)} ORDER BY {within}) AS dm_rank "
            f"FROM {self._q(table)} WHERE {where}"
        )
        outer = ", ".join(self._q(c) for c in match)
        inner_order = ", ".join(o.replace(self._q(table) + ".", "") for o in order[len(match) :])
        return (
            f"SELECT {cols} FROM ({ranked}) dm_r WHERE dm_rank <= {int(limit)} "
            f"ORDER BY {outer}{', ' + inner_order if inner_order else ''}"
        )
