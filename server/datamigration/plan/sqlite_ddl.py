"""Edit SQLite's own CREATE TABLE / CREATE INDEX text where a rebuild changes it, and nowhere else.

Why text edits and not a regenerated statement: SQLite keeps each table's CREATE TABLE as
written (``sqlite_master.sql``), and the declared type words are what decide a column's
affinity and what introspection shows. sqlglot's SQLite generator rewrites them (``bigint`` ->
``INTEGER``, ``decimal(10,2)`` -> ``REAL(10, 2)``, ``boolean`` -> ``INTEGER``) and its parser
refuses valid SQLite (``STRICT`` tables, ``ANY``, ``UNSIGNED BIG INT``). So the statement is cut
with sqlglot's tokenizer — quote-, bracket- and comment-aware, with exact offsets — and only the
pieces the change names are replaced or appended: every other byte stays as the user wrote it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from sqlglot.dialects.sqlite import SQLite as _SQLiteDialect
from sqlglot.tokens import Token, TokenType

from datamigration.errors import UserInputError
from datamigration.plan.sqltext import quote

#: words that end a column's declared type (the first column constraint)
_COLUMN_CONSTRAINT = {
    "CONSTRAINT", "PRIMARY", "NOT", "NULL", "UNIQUE", "CHECK", "DEFAULT", "COLLATE",
    "REFERENCES", "GENERATED", "AS",
}  # fmt: skip
_TABLE_CONSTRAINT = {"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"}


@dataclass(frozen=True)
class TableChange:
    """What the rebuilt table has that the original has not.

    `types`: column -> new declared type; `not_null`: columns that become NOT NULL;
    `column_checks`: (column, constraint text) appended to that column's definition;
    `constraints`: table constraints appended after the last definition."""

    types: tuple[tuple[str, str], ...] = ()
    not_null: tuple[str, ...] = ()
    column_checks: tuple[tuple[str, str], ...] = ()
    constraints: tuple[str, ...] = ()


def _tokens(sql: str) -> list[Token]:
    return list(_SQLiteDialect().tokenize(sql))


def _bad(sql: str, why: str) -> UserInputError:
    return UserInputError(
        f"cannot read the CREATE statement to rebuild ({why}): {sql[:120]}",
        hint="Write the rebuild as raw_sql (sqlite.org/lang_altertable.html, 12 steps).",
    )


def _name_span(tokens: list[Token], after: int, stop: set[TokenType]) -> tuple[int, int]:
    """Offsets [start, end) of the (maybe schema-qualified) name that follows token `after`,
    skipping IF NOT EXISTS, up to the first token of a type in `stop`."""
    i = after + 1
    if i + 2 < len(tokens) and [t.text.upper() for t in tokens[i : i + 3]] == [
        "IF",
        "NOT",
        "EXISTS",
    ]:
        i += 3
    j = i
    while j < len(tokens) and tokens[j].token_type not in stop:
        j += 1
    if j == i or j == len(tokens):
        raise ValueError("no name")
    return tokens[i].start, tokens[j - 1].end + 1


def _definitions(tokens: list[Token]) -> tuple[int, list[list[Token]]]:
    """Index of the ``)`` that closes the column list, and the comma-separated definitions."""
    depth, parts, cur = 0, [], []
    for i, tok in enumerate(tokens):
        if tok.token_type == TokenType.L_PAREN:
            depth += 1
            if depth == 1:
                continue
        elif tok.token_type == TokenType.R_PAREN:
            depth -= 1
            if depth == 0:
                parts.append(cur)
                return i, parts
        if depth == 0:
            continue
        if depth == 1 and tok.token_type == TokenType.COMMA:
            parts.append(cur)
            cur = []
        else:
            cur.append(tok)
    raise ValueError("no column list")


def _is_column(part: list[Token]) -> bool:
    return bool(part) and not (
        part[0].token_type != TokenType.IDENTIFIER and part[0].text.upper() in _TABLE_CONSTRAINT
    )


def column_names(sql: str) -> list[str]:
    """The column names of a CREATE TABLE statement, in order, as written (unquoted)."""
    try:
        _, parts = _definitions(_tokens(sql))
    except ValueError as exc:
        raise _bad(sql, str(exc)) from None
    return [p[0].text for p in parts if _is_column(p)]


def rebuilt_table(sql: str, new_name: str, change: TableChange) -> str:
    """`sql` (a CREATE TABLE) creating `new_name` with `change` applied."""
    tokens = _tokens(sql)
    try:
        table_at = next(i for i, t in enumerate(tokens) if t.token_type == TokenType.TABLE)
        name = _name_span(tokens, table_at, {TokenType.L_PAREN})
        close, parts = _definitions(tokens)
    except (StopIteration, ValueError) as exc:
        raise _bad(sql, str(exc) or "no CREATE TABLE") from None
    columns = {p[0].text.lower(): p for p in parts if _is_column(p)}
    edits: list[tuple[int, int, str]] = [(name[0], name[1], quote(new_name, "sqlite"))]

    def column(col: str) -> list[Token]:
        part = columns.get(col.lower())
        if part is None:
            raise _bad(sql, f"no column {col}")
        return part

    for col, type_ in change.types:
        part = column(col)
        words = []
        for tok in part[1:]:
            if tok.text.upper() in _COLUMN_CONSTRAINT and tok.token_type != TokenType.IDENTIFIER:
                break
            words.append(tok)
        if words:
            edits.append((words[0].start, words[-1].end + 1, type_))
        else:
            edits.append((part[0].end + 1, part[0].end + 1, f" {type_}"))
    tails: dict[str, list[str]] = {}
    for col in change.not_null:
        part = column(col)
        texts = [t.text.upper() for t in part]
        if not any(a == "NOT" and b == "NULL" for a, b in pairwise(texts)):
            tails.setdefault(col.lower(), []).append("NOT NULL")
    for col, text in change.column_checks:
        column(col)
        tails.setdefault(col.lower(), []).append(text)
    for col, extra in tails.items():
        end = columns[col][-1].end + 1
        edits.append((end, end, " " + " ".join(extra)))
    if change.constraints:
        # after the last definition's last token: before a trailing comment, not after it
        at = parts[-1][-1].end + 1 if parts and parts[-1] else tokens[close].start
        edits.append((at, at, "".join(f", {c}" for c in change.constraints)))
    return _apply(sql, edits)


def _apply(sql: str, edits: list[tuple[int, int, str]]) -> str:
    """`sql` with each (start, end, text) span replaced; insertions at one offset keep their
    order (a declared type before the constraints appended after it)."""
    out = sql
    for _, (start, end, text) in sorted(
        enumerate(edits), key=lambda e: (e[1][0], e[0]), reverse=True
    ):
        out = out[:start] + text + out[end:]
    return out


def renamed_index(sql: str, name: str, table: str | None = None) -> str:
    """`sql` (a CREATE INDEX) creating index `name` (on `table` when given), IF NOT EXISTS."""
    tokens = _tokens(sql)
    try:
        at = next(i for i, t in enumerate(tokens) if t.token_type == TokenType.INDEX)
        on = next(i for i, t in enumerate(tokens) if i > at and t.token_type == TokenType.ON)
        start, end = _name_span(tokens, at, {TokenType.ON})
        paren = next(
            i for i, t in enumerate(tokens) if i > on and t.token_type == TokenType.L_PAREN
        )
    except (StopIteration, ValueError) as exc:
        raise _bad(sql, str(exc) or "no CREATE INDEX") from None
    edits = [(start, end, "IF NOT EXISTS " + quote(name, "sqlite"))]
    if [t.text.upper() for t in tokens[at + 1 : at + 4]] == ["IF", "NOT", "EXISTS"]:
        edits = [(tokens[at + 1].start, end, "IF NOT EXISTS " + quote(name, "sqlite"))]
    if table is not None:
        edits.append((tokens[on + 1].start, tokens[paren - 1].end + 1, quote(table, "sqlite")))
    return _apply(sql, edits)


def affinity_check(column: str, type_: str) -> str | None:
    """``CHECK (typeof(col) IN (...))`` that makes a declared type binding, where SQLite's type
    affinity (sqlite.org/datatype3.html 3.1) stores one storage class: INTEGER, TEXT, REAL. A
    value that does not convert (``'abc'`` into INTEGER) would otherwise be kept as it is.
    NUMERIC (dates, booleans, decimals) and BLOB affinities keep several classes: no check."""
    t = type_.upper()
    if "INT" in t:
        kind = "integer"
    elif any(w in t for w in ("CHAR", "CLOB", "TEXT")):
        kind = "text"
    elif "BLOB" in t or not t.strip():
        return None
    elif any(w in t for w in ("REAL", "FLOA", "DOUB")):
        kind = "real"
    else:
        return None
    return f"CHECK (typeof({quote(column, 'sqlite')}) IN ('{kind}', 'null'))"


def quoted(names: Sequence[str]) -> str:
    return ", ".join(quote(n, "sqlite") for n in names)
