"""SQLite introspection: every table through the table-valued pragma functions joined to
``sqlite_master``, one query per kind of object, whatever the number of tables. What only the
DDL text knows (CHECK, generated expressions, partial index predicates, AUTOINCREMENT) is read
from that text with a small quote-aware scanner.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from datamigration.db import model as m
from datamigration.db.contracts import TableSize
from datamigration.db.sqlite.connection import SQLiteConnection, qualified, quote_name
from datamigration.errors import DatabaseError

_USER_TABLES = "m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
Q_COLUMNS = (
    'SELECT m.name, p.cid, p.name, p.type, p."notnull", p.dflt_value, '
    f"p.pk, p.hidden FROM sqlite_master m, pragma_table_xinfo(m.name) p "
    f"WHERE {_USER_TABLES} ORDER BY m.name, p.cid"
)
Q_FOREIGN_KEYS = (
    'SELECT m.name, p.id, p.seq, p."table", p."from", p."to", '
    "p.on_update, p.on_delete FROM sqlite_master m, "
    f"pragma_foreign_key_list(m.name) p WHERE {_USER_TABLES} "
    "ORDER BY m.name, p.id, p.seq"
)
Q_INDEXES = (
    'SELECT m.name, il.name, il."unique", il.origin, il.partial, '
    "ii.seqno, ii.cid, ii.name FROM sqlite_master m, "
    "pragma_index_list(m.name) il, pragma_index_xinfo(il.name) ii "
    f"WHERE {_USER_TABLES} AND ii.key = 1 ORDER BY m.name, il.name, ii.seqno"
)


class SQLiteIntrospection(SQLiteConnection):
    """`inspect`, `exact_count` and `table_sizes` of the SQLite backend."""

    # --- introspection -------------------------------------------------------------------

    def inspect(
        self, *, tables: Sequence[str] | None = None, exact_counts: bool = False
    ) -> m.Schema:
        start_count = self.counter.count
        conn = self._read_conn()
        error: DatabaseError | None = None
        try:
            result = self._read_catalog(conn, tables, exact_counts)
        except sqlite3.Error as exc:
            error = self._fail(exc, "inspect")
        if error is not None:
            raise error
        return m.Schema(
            dialect="sqlite",
            database=self.path,
            tables=result,
            server_version=sqlite3.sqlite_version,
            query_count=self.counter.count - start_count,
        )

    def _row_stats(self, conn, master) -> tuple[dict[str, int], dict[str, int]]:
        """Row estimates from sqlite_stat1 (after ANALYZE) and page bytes from dbstat, each
        where the database has it."""
        stats: dict[str, int] = {}
        if any(r[1] == "sqlite_stat1" for r in master):
            for tbl, stat in self._q(conn, "SELECT tbl, stat FROM sqlite_stat1"):
                first = (stat or "").split(" ")[0]
                if first.isdigit():
                    stats[tbl] = max(stats.get(tbl, 0), int(first))
        sizes: dict[str, int] = {}
        try:
            sizes = dict(self._q(conn, "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"))
        except sqlite3.Error:
            pass  # dbstat not compiled in: sizes stay unknown
        return stats, sizes

    def _read_catalog(self, conn, names, exact_counts) -> tuple[m.Table, ...]:
        wanted = {n.removeprefix("main.") for n in names} if names else None
        master = self._q(conn, "SELECT type, name, tbl_name, sql FROM sqlite_master")
        table_sql = {
            r[1]: r[3] or ""
            for r in master
            if r[0] == "table"
            and not r[1].startswith("sqlite_")
            and (wanted is None or r[1] in wanted)
        }
        index_sql = {r[1]: r[3] for r in master if r[0] == "index"}
        triggers: dict[str, list[m.Trigger]] = {}
        for r in master:
            if r[0] == "trigger" and r[2] in table_sql:
                triggers.setdefault(r[2], []).append(_trigger(r[1], r[3] or ""))
        cols = self._q(conn, Q_COLUMNS)
        fks = self._q(conn, Q_FOREIGN_KEYS)
        idx = self._q(conn, Q_INDEXES)
        stats, sizes = self._row_stats(conn, master)
        counts: dict[str, int] = {}
        if exact_counts and table_sql:
            union = " UNION ALL ".join(
                f"SELECT {_literal(t)}, count(*) FROM {quote_name(t)}" for t in table_sql
            )
            counts = dict(self._q(conn, union))

        by_table: dict[str, dict[str, Any]] = {
            t: {"cols": [], "pk": [], "fks": {}, "idx": {}} for t in table_sql
        }
        for tbl, cid, name, decl, notnull, default, pk, hidden in cols:
            if tbl not in by_table:
                continue
            by_table[tbl]["cols"].append((cid, name, decl, notnull, default, pk, hidden))
        for tbl, fid, _seq, ref, src, dst, upd, dele in fks:
            if tbl in by_table:
                by_table[tbl]["fks"].setdefault(fid, []).append((ref, src, dst, upd, dele))
        for tbl, iname, unique, origin, partial, _seqno, cid, cname in idx:
            if tbl in by_table:
                entry = by_table[tbl]["idx"].setdefault(
                    iname,
                    {
                        "unique": bool(unique),
                        "origin": origin,
                        "partial": bool(partial),
                        "parts": [],
                    },
                )
                entry["parts"].append(cname if cid >= 0 else None)

        out = []
        for tbl, ddl in table_sql.items():
            info = by_table[tbl]
            out.append(
                _table(
                    tbl,
                    ddl,
                    info,
                    index_sql,
                    triggers.get(tbl, []),
                    stats.get(tbl),
                    counts.get(tbl),
                    sizes,
                )
            )
        return tuple(out)

    def exact_count(self, table: str) -> int:
        sql = f"SELECT count(*) FROM {qualified(table)}"
        return int(
            self._guard(f"count rows of {table}", lambda: self._q(self._read_conn(), sql))[0][0]
        )

    def table_sizes(self) -> dict[str, TableSize]:
        schema = self.inspect()
        return {
            t.name: TableSize(t.name, t.row_estimate, t.size_bytes, t.index_bytes, t.total_bytes)
            for t in schema.tables
        }


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --- DDL text scanning ----------------------------------------------------------------------

_QUOTES = {'"': '"', "'": "'", "`": "`", "[": "]"}


def _scan(text: str) -> Iterator[tuple[int, str, int]]:
    """Yield (position, char, paren depth) for characters outside quotes and comments."""
    depth, i, n = 0, 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _QUOTES:
            end = text.find(_QUOTES[ch], i + 1)
            i = n if end < 0 else end + 1
            continue
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if ch == "(":
            depth += 1
        yield i, ch, depth
        if ch == ")":
            depth -= 1
        i += 1


def _body(ddl: str) -> str:
    """Text between the outer parentheses of CREATE TABLE t (...)."""
    start = end = None
    for pos, ch, depth in _scan(ddl):
        if ch == "(" and depth == 1 and start is None:
            start = pos + 1
        elif ch == ")" and depth == 1 and start is not None:
            end = pos
    return ddl[start:end] if start is not None and end is not None else ""


def _split_top(body: str) -> list[str]:
    parts, last = [], 0
    for pos, ch, depth in _scan(body):
        if ch == "," and depth == 0:
            parts.append(body[last:pos].strip())
            last = pos + 1
    parts.append(body[last:].strip())
    return [p for p in parts if p]


def _paren_after(text: str, keyword: str) -> list[tuple[int, str]]:
    """(start, inner text) of every `keyword ( ... )` outside quotes, case-insensitive."""
    out = []
    upper = text.upper()
    positions = {pos: depth for pos, _, depth in _scan(text)}
    for match in re.finditer(rf"\b{keyword}\b", upper):
        if match.start() not in positions:
            continue  # inside a quote or comment
        open_pos = text.find("(", match.end())
        if open_pos < 0 or text[match.end() : open_pos].strip():
            continue
        base = None
        for pos, ch, depth in _scan(text[open_pos:]):
            if ch == "(" and base is None:
                base = depth
            elif ch == ")" and depth == base:
                out.append((match.start(), text[open_pos + 1 : open_pos + pos].strip()))
                break
    return out


def _unquote(name: str) -> str:
    name = name.strip()
    if name[:1] in _QUOTES and name[-1:] == _QUOTES[name[0]]:
        return name[1:-1]
    return name


def _constraint_name(segment: str, at: int) -> str | None:
    found = re.search(
        r"CONSTRAINT\s+(\"[^\"]+\"|`[^`]+`|\[[^\]]+\]|\w+)\s*$", segment[:at], re.IGNORECASE
    )
    return _unquote(found.group(1)) if found else None


def _table(name, ddl, info, index_sql, triggers, estimate, exact, sizes) -> m.Table:
    col_segment, checks = _segments(ddl)
    pk_cols = sorted((c for c in info["cols"] if c[5]), key=lambda c: c[5])
    columns = [
        _column(row, col_segment.get(row[1], ""), single_pk=len(pk_cols) == 1)
        for row in info["cols"]
    ]
    uniques, indexes = _indexes(info["idx"], index_sql, sizes)
    index_bytes = sum(i.size_bytes or 0 for i in indexes) if sizes else None
    heap = sizes.get(name) if sizes else None
    return m.Table(
        name=name,
        schema="main",
        columns=tuple(columns),
        primary_key=m.PrimaryKey(None, tuple(c[1] for c in pk_cols)) if pk_cols else None,
        uniques=tuple(uniques),
        foreign_keys=tuple(_foreign_keys(info["fks"])),
        indexes=tuple(indexes),
        checks=tuple(checks),
        triggers=tuple(triggers),
        row_estimate=estimate,
        exact_count=exact,
        size_bytes=heap,
        index_bytes=index_bytes,
        total_bytes=(heap or 0) + (index_bytes or 0) if sizes else None,
        definition=ddl or None,
    )


def _segments(ddl: str) -> tuple[dict[str, str], list[m.CheckConstraint]]:
    """The CREATE TABLE body's column definitions by column name, and every CHECK in it."""
    col_segment: dict[str, str] = {}
    checks: list[m.CheckConstraint] = []
    for seg in _split_top(_body(ddl)):
        first = re.match(r"(\"[^\"]+\"|`[^`]+`|\[[^\]]+\]|\S+)", seg)
        word = _unquote(first.group(1)) if first else ""
        if word.upper() not in ("CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"):
            col_segment[word] = seg
        for at, expr in _paren_after(seg, "CHECK"):
            checks.append(m.CheckConstraint(name=_constraint_name(seg, at), expression=expr))
    return col_segment, checks


def _column(row: tuple, seg: str, *, single_pk: bool) -> m.Column:
    """One `table_xinfo` row, completed from the column's definition `seg` in the DDL."""
    cid, cname, decl, notnull, default, pk, hidden = row
    generated = None
    if hidden in (2, 3):
        found = _paren_after(seg, "AS")
        generated = found[0][1] if found else None
    identity = None
    if single_pk and pk and (decl or "").upper() == "INTEGER":
        identity = (
            m.IDENTITY_AUTOINCREMENT
            if re.search(r"\bAUTOINCREMENT\b", seg, re.IGNORECASE)
            else m.IDENTITY_ROWID
        )
    type_name, length, precision, scale = _sqlite_type(decl or "")
    return m.Column(
        name=cname,
        data_type=decl or "",
        type_name=type_name,
        nullable=not notnull and not (pk and identity),
        default=default,
        length=length,
        precision=precision,
        scale=scale,
        identity=identity,
        generated=generated,
        generated_stored=(hidden == 3) if generated is not None else None,
        ordinal=cid + 1,
    )


def _foreign_keys(fks: dict) -> list[m.ForeignKey]:
    """`foreign_key_list` rows grouped by key id, one ForeignKey per id."""
    return [
        m.ForeignKey(
            name=None,
            columns=tuple(p[1] for p in parts),
            ref_table=parts[0][0],
            ref_columns=tuple(p[2] for p in parts if p[2] is not None),
            on_update=parts[0][3],
            on_delete=parts[0][4],
        )
        for _fid, parts in sorted(fks.items())
    ]


def _indexes(
    idx: dict, index_sql: dict, sizes: dict
) -> tuple[list[m.UniqueConstraint], list[m.Index]]:
    """The table's UNIQUE constraints and its indexes (every UNIQUE has its index too)."""
    uniques, indexes = [], []
    for iname, entry in sorted(idx.items()):
        ddl_i = index_sql.get(iname) or ""
        cols = _index_columns(entry["parts"], ddl_i)
        if entry["origin"] == "u":
            uniques.append(m.UniqueConstraint(name=None, columns=cols))
        indexes.append(
            m.Index(
                name=iname,
                columns=cols,
                unique=entry["unique"],
                method="btree",
                predicate=_index_predicate(ddl_i) if entry["partial"] else None,
                primary=entry["origin"] == "pk",
                constraint=iname if entry["origin"] in ("u", "pk") else None,
                size_bytes=sizes.get(iname),
                definition=ddl_i or None,
            )
        )
    return uniques, indexes


def _index_columns(parts, ddl_i: str) -> tuple:
    """Index column names; an expression part (None from SQLite) is read from the DDL."""
    parts = list(parts)
    if None in parts and ddl_i:
        exprs = _split_top(_body(ddl_i))
        parts = [
            p if p is not None else (exprs[i] if i < len(exprs) else "?")
            for i, p in enumerate(parts)
        ]
    return tuple(parts)


def _index_predicate(ddl_i: str) -> str | None:
    """A partial index's WHERE clause, read from its DDL (the last top-level WHERE)."""
    if not ddl_i:
        return None
    where = [
        pos
        for pos, _, depth in _scan(ddl_i)
        if depth == 0 and ddl_i[pos : pos + 5].upper() == "WHERE"
    ]
    return ddl_i[where[-1] + 5 :].strip() if where else None


def _sqlite_type(decl: str) -> tuple[str, int | None, int | None, int | None]:
    found = re.match(r"\s*([^(]*?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$", decl)
    if not found:
        return decl.lower(), None, None, None
    base = found.group(1).lower()
    a, b = found.group(2), found.group(3)
    if a is None:
        return base, None, None, None
    if base in ("decimal", "numeric") or b is not None:
        return base, None, int(a), int(b) if b is not None else 0
    return base, int(a), None, None


def _trigger(name: str, ddl: str) -> m.Trigger:
    head = ddl.upper()
    timing = (
        "INSTEAD OF"
        if "INSTEAD OF" in head
        else "BEFORE"
        if re.search(r"\bBEFORE\b", head)
        else "AFTER"
    )
    before_on = head.split(" ON ", 1)[0]
    events = tuple(e for e in ("INSERT", "UPDATE", "DELETE") if re.search(rf"\b{e}\b", before_on))
    return m.Trigger(name=name, timing=timing, events=events, level="ROW", definition=ddl)
