"""Shadow reads by the application's own queries: run each on both SQL sides, compare results.

The queries come from a file (plain SQL, statements separated by `;`, comments allowed) or
from the source's `pg_stat_statements` (its most called statements). Every one goes through
the read-only path (`Backend.query`: parsed before sending, run in a read-only transaction
that is always rolled back). A file is checked whole before the first query runs: a
statement that is not one plain read (an INSERT, a data-modifying WITH, SELECT ... INTO, a
locking read) refuses the file, so nothing of it runs.

Results are compared as lists when the query has ORDER BY at its top level, as multisets
otherwise. Values are compared after a light normalisation, because each database hands the
same value back its own way: numbers by value (1.50 = 1.5, true = 1), timestamps as the
same instant in UTC; column names without case. `pg_stat_statements` keeps statements with
their constants replaced by `$1`, `$2`...: those are skipped (and listed), since no value is
known to run them with.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from datamigration.db.base import Backend
from datamigration.db.dialect import dialect_of
from datamigration.errors import DatabaseError, UserInputError
from datamigration.lint.split import split_statements
from datamigration.validate.shadow.tally import Tally

#: pages of a query's result read at most (the read path caps rows and bytes per answer)
MAX_PAGES = 20
_PARAM = re.compile(r"\$\d+")
_CATALOG = re.compile(r"\b(pg_\w+|information_schema)\b", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter,
           exp.Command, exp.Lock, exp.Into)  # fmt: skip


class QueriesRefusedError(UserInputError):
    """A queries file holds something other than plain reads; nothing of it ran."""


def _glot(dialect: str) -> str:
    return dialect_of(dialect).sqlglot_dialect


def read_shape(sql: str, dialect: str) -> tuple[bool, str | None]:
    """(ordered, None) for one plain read; (False, why not) otherwise."""
    try:
        tree = sqlglot.parse_one(sql, read=_glot(dialect))
    except SqlglotError as exc:
        return False, "does not parse: " + str(exc).splitlines()[0][:120]
    if not isinstance(tree, exp.Query):
        return False, f"is a {tree.key.upper()} statement, not a read"
    bad = next((n for n in tree.walk() if isinstance(n, _WRITES)), None)
    if bad is not None:
        return False, f"holds {bad.key.upper()}, which is not a plain read"
    return tree.args.get("order") is not None, None


def load_queries(text: str, dialect: str, source: str) -> list[tuple[str, bool]]:
    """(statement, ordered) of every statement of a queries file, or QueriesRefusedError
    naming each statement that is not a plain read (before any runs)."""
    lint = dialect_of(dialect).lint_dialect or "postgres"
    statements, _ = split_statements(text, lint)
    out, bad = [], []
    for st in statements:
        sql = st.text.strip().rstrip(";").strip()
        if not sql:
            continue
        ordered, why = read_shape(sql, dialect)
        if why:
            bad.append(f"line {st.line}: {why}")
        out.append((sql, ordered))
    if bad:
        raise QueriesRefusedError(
            f"{source}: {len(bad)} statement(s) are not plain reads, so no query of the file "
            f"ran: {'; '.join(bad[:5])}",
            hint="A queries file holds read queries only (SELECT / WITH ... SELECT), one per "
            "`;`. Remove the others and call shadow_reads again.",
            statements=bad,
        )
    if not out:
        raise UserInputError(
            f"{source} holds no query", hint="Write SELECT statements, ; after each."
        )
    return out


def from_pg_stat_statements(
    backend: Backend, n: int, dialect: str, tally: Tally
) -> list[tuple[str, bool]]:
    """The source's `n` most called plain reads without parameters (others skipped)."""
    top = backend.top_statements(n * 5)
    if top is None:
        tally.notes.append(
            "pg_stat_statements is not available on the source: nothing read from it (it "
            "needs shared_preload_libraries = 'pg_stat_statements' and CREATE EXTENSION)"
        )
        return []
    out = []
    for sql, _calls in top:
        if len(out) >= n:
            break
        ordered, why = read_shape(sql, dialect)
        if why:
            continue  # the application's writes and utility statements are not replayed
        if _CATALOG.search(sql):
            continue  # catalog reads (ours among them) are not the application's
        if _PARAM.search(sql):
            tally.skip(sql, "has parameters ($1...) and no sample values to run it with")
            continue
        out.append((sql, ordered))
    return out


def cell(value: Any) -> Any:
    """A value as it is compared (see the module docstring)."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        try:
            d = decimal.Decimal(str(value))
        except decimal.InvalidOperation:
            return value
        return str(d.normalize()) if d != d.to_integral() else str(d.quantize(1))
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            t = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        t = t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo else t
        return t.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def read_all(backend: Backend, sql: str) -> tuple[list[str], list[tuple[Any, ...]], bool]:
    """(columns, rows, complete): the result page by page, at most MAX_PAGES pages."""
    rows: list[tuple[Any, ...]] = []
    columns: list[str] = []
    for _ in range(MAX_PAGES):
        r = backend.query(sql, offset=len(rows), max_rows=10_000)
        columns = [c.lower() for c in r.columns]
        rows += [tuple(cell(v) for v in row) for row in r.rows]
        if not r.truncated or not r.rows:
            return columns, rows, True
    return columns, rows, False


def compare_query(
    tally: Tally, label: str, sql: str, ordered: bool, src: Backend, dst: Backend
) -> tuple[int, int]:
    """(reads, mismatches) of one query run on both sides."""
    try:
        ca, a, full_a = read_all(src, sql)
    except DatabaseError as exc:
        tally.skip(sql, f"fails on the source: {exc.message[:150]}")
        return 0, 0
    try:
        cb, b, full_b = read_all(dst, sql)
    except DatabaseError as exc:
        tally.example(label, None, "(error)", f"{len(a)} row(s)", exc.message)
        return 1, 1
    if not (full_a and full_b) and not ordered:
        tally.skip(sql, f"more rows than {MAX_PAGES} pages and no ORDER BY to compare a part")
        return 0, 0
    if ca != cb:
        tally.example(label, None, "(columns)", ", ".join(ca), ", ".join(cb))
        return 1, 1
    if ordered:
        if not (full_a and full_b):  # compare the part both sides read
            a, b = a[: min(len(a), len(b))], b[: min(len(a), len(b))]
        return 1, int(_first_difference(tally, label, ca, a, b))
    only_a, only_b = Counter(a) - Counter(b), Counter(b) - Counter(a)
    if not only_a and not only_b:
        return 1, 0
    row_a = next(iter(only_a), None)
    row_b = next(iter(only_b), None)
    tally.example(label, "(rows)", "(row)", _row(ca, row_a), _row(cb, row_b))
    return 1, 1


def _row(columns: Sequence[str], row: tuple[Any, ...] | None) -> Any:
    return None if row is None else dict(zip(columns, row, strict=True))


def _first_difference(
    tally: Tally, label: str, columns: Sequence[str], a: Sequence[tuple], b: Sequence[tuple]
) -> bool:
    for i, (ra, rb) in enumerate(zip(a, b, strict=False)):
        if ra != rb:
            for name, x, y in zip(columns, ra, rb, strict=True):
                if x != y:
                    tally.example(label, f"row {i + 1}", name, x, y)
            return True
    if len(a) != len(b):
        tally.example(label, "(rows)", "(row count)", len(a), len(b))
        return True
    return False


def query_reads(
    tally: Tally, queries: Sequence[tuple[str, bool]], src: Backend, dst: Backend, what: str
) -> None:
    """Run every query on both sides; one part of the tally."""
    reads = mismatches = 0
    for i, (sql, ordered) in enumerate(queries, 1):
        label = f"{what} #{i}: {' '.join(sql.split())[:60]}"
        r, m = compare_query(tally, label, sql, ordered, src, dst)
        reads, mismatches = reads + r, mismatches + m
    # asked for queries and none could run: a gate over them proves nothing (not vacuous)
    tally.part(what, reads, mismatches, len(queries) or 1, queries=len(queries))
