"""SQLite backend (sqlite3): the embedded default, with the same contract as the servers.

Read-only enforcement for `query`: a separate connection opened with ``mode=ro`` (the file
cannot be written through it), ``PRAGMA query_only``, an authorizer callback the SQLite engine
consults while compiling every statement (only reads, allow-listed built-in functions are
allowed, so ``PRAGMA writable_schema=1``, ATTACH,
``load_extension``, COMMIT and any write are denied by the engine), one statement per call
(sqlite3 refuses the rest), a progress-handler deadline as the statement timeout, a length
limit on every string and blob (``randomblob(900000000)`` fails instead of taking gigabytes),
and a rollback at the end.

Introspection reads every table through the table-valued pragma functions joined to
``sqlite_master``: one query per kind of object, whatever the number of tables. What only the
DDL text knows (CHECK, generated expressions, partial index predicates, AUTOINCREMENT) is read
from that text with a small quote-aware scanner.
"""

from __future__ import annotations

import difflib
import fcntl
import hashlib
import os
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from datamigration.db import model as m
from datamigration.db.base import DEFAULT_MAX_ROWS, Backend, register_backend
from datamigration.db.contracts import (
    ExecuteOptions,
    QueryResult,
    StatementLike,
    TableSize,
    keyset_sql,
)
from datamigration.db.errors import (
    QueryTimeoutError,
    ResultTooLargeError,
    TableNotFoundError,
    UnknownDatabaseError,
    translate,
)
from datamigration.db.readonly import clamp_rows, fetch_capped, now, refused
from datamigration.errors import DatabaseError

# Authorizer action codes (sqlite3.SQLITE_* constants) allowed on the query path.
_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION}
_ALLOWED_ACTIONS.add(getattr(sqlite3, "SQLITE_RECURSIVE", 33))
# Built-in functions that only compute on their arguments (core, date, math, JSON, aggregate,
# window). Anything else is denied by the authorizer: load_extension, readfile/writefile/edit
# (the CLI's file functions), fts3_tokenizer (takes a pointer), sqlite_log, and every function
# an application or extension registered.
_SAFE_FUNCTIONS = frozenset(
    re.findall(
        r"\S+",
        """
    -> ->> abs acos acosh asin asinh atan atan2 atanh avg ceil ceiling changes char coalesce
    concat concat_ws cos cosh count cume_dist current_date current_time current_timestamp date
    datetime degrees dense_rank exp first_value floor format glob group_concat hex ifnull iif
    instr json json_array json_array_length json_error_position json_extract json_group_array
    json_group_object json_insert json_object json_patch json_pretty json_quote json_remove
    json_replace json_set json_type json_valid jsonb jsonb_array jsonb_extract
    jsonb_group_array jsonb_group_object jsonb_insert jsonb_object jsonb_patch jsonb_remove
    jsonb_replace jsonb_set julianday lag last_insert_rowid last_value lead length like
    likelihood likely ln log log10 log2 lower ltrim max min mod nth_value ntile nullif
    octet_length percent_rank pi pow power printf quote radians random randomblob rank replace
    round row_number rtrim sign sin sinh soundex sqlite_source_id sqlite_version sqrt strftime
    string_agg substr substring sum tan tanh time timediff total total_changes trim trunc
    typeof unhex unicode unixepoch unlikely upper zeroblob
    """,
    )
)
#: longest string or blob the read-only connection may build or return (SQLITE_LIMIT_LENGTH):
#: randomblob(900000000) then fails at once instead of allocating gigabytes
MAX_VALUE_LENGTH = 16 * 1024 * 1024


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _qualified(table: str) -> str:
    schema, dot, name = table.rpartition(".")
    return f"{_quote(schema)}.{_quote(name)}" if dot and schema == "main" else _quote(table)


_ACTION_NAMES = {
    getattr(sqlite3, f"SQLITE_{n}"): n.replace("_", " ")
    for n in [
        "CREATE_INDEX",
        "CREATE_TABLE",
        "CREATE_TEMP_INDEX",
        "CREATE_TEMP_TABLE",
        "CREATE_TEMP_TRIGGER",
        "CREATE_TEMP_VIEW",
        "CREATE_TRIGGER",
        "CREATE_VIEW",
        "DELETE",
        "DROP_INDEX",
        "DROP_TABLE",
        "DROP_TEMP_INDEX",
        "DROP_TEMP_TABLE",
        "DROP_TEMP_TRIGGER",
        "DROP_TEMP_VIEW",
        "DROP_TRIGGER",
        "DROP_VIEW",
        "INSERT",
        "PRAGMA",
        "READ",
        "SELECT",
        "TRANSACTION",
        "UPDATE",
        "ATTACH",
        "DETACH",
        "ALTER_TABLE",
        "REINDEX",
        "ANALYZE",
        "CREATE_VTABLE",
        "DROP_VTABLE",
        "FUNCTION",
        "SAVEPOINT",
        "RECURSIVE",
    ]
    if hasattr(sqlite3, f"SQLITE_{n}")
}


class _Authorizer:
    """The engine asks this while compiling; the first denial is kept for the message."""

    def __init__(self) -> None:
        self.denied: str | None = None

    def __call__(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, src: Any
    ) -> int:
        if action == sqlite3.SQLITE_FUNCTION:
            deny = (arg2 or "").lower() not in _SAFE_FUNCTIONS
        else:
            deny = action not in _ALLOWED_ACTIONS
        if deny:
            if self.denied is None:
                what = _ACTION_NAMES.get(action, f"action {action}")
                detail = " ".join(a for a in (arg1, arg2) if a)
                self.denied = f"{what}{' ' + detail if detail else ''}"
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK


#: lock files held by `try_session_lock`, per (backend, name): held for the process's life
#: unless released, like a session lock for the life of its connection
_FILE_LOCKS: dict[tuple[int, str], Any] = {}


@register_backend
class SQLiteBackend(Backend):
    """A SQLite file. Writable connection for the executor, a separate read-only one for query."""

    schemes = ("sqlite",)
    dialect = "sqlite"
    driver = "sqlite3"
    driver_errors = (sqlite3.Error,)
    transactional_ddl = True
    returning = True
    sqlglot_dialect = "sqlite"
    lint_dialect = "sqlite"
    placeholder = "?"

    def __init__(self, url, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.path = url.database or ":memory:"
        self._rw: sqlite3.Connection | None = None
        self._ro: sqlite3.Connection | None = None

    def _exists(self) -> bool:
        return self.path == ":memory:" or Path(self.path).is_file()

    def open(self) -> SQLiteBackend:
        return self

    def _missing(self) -> UnknownDatabaseError:
        folder = Path(self.path).parent
        names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
        close = difflib.get_close_matches(Path(self.path).name, names, n=1, cutoff=0.5)
        hint = (
            f"Did you mean {str(folder / close[0])!r}?"
            if close
            else "Check the path; sqlite:///relative.db or sqlite:////absolute/path.db."
        )
        return UnknownDatabaseError(
            f"SQLite database file {self.path} does not exist", hint=hint, path=self.path
        )

    def _fail(self, exc: BaseException, action: str) -> DatabaseError:
        text = str(exc)
        if "interrupted" in text:
            return translate(exc, label=self.label, action=action, cls=QueryTimeoutError)
        if "no such table" in text:
            return translate(
                exc,
                label=self.label,
                action=action,
                cls=TableNotFoundError,
            )
        return translate(exc, label=self.label, action=action)

    @property
    def conn(self) -> sqlite3.Connection:
        """The writable connection (creates the file when it does not exist yet)."""
        if self._rw is None:
            self._rw = sqlite3.connect(
                self.path,
                timeout=self.connect_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            self._rw.execute("PRAGMA foreign_keys = ON")
        return self._rw

    def _read_conn(self) -> sqlite3.Connection:
        if self._ro is None:
            if not self._exists():
                raise self._missing()
            if self.path == ":memory:":
                target = "file::memory:?mode=ro"
            else:
                target = Path(self.path).resolve().as_uri() + "?mode=ro"
            error: DatabaseError | None = None
            try:
                self._ro = sqlite3.connect(
                    target,
                    uri=True,
                    timeout=self.connect_timeout,
                    isolation_level=None,
                    check_same_thread=False,
                )
                self._ro.execute("PRAGMA query_only = 1")
                self._ro.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_LENGTH)
                self._ro.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            except sqlite3.Error as exc:
                error = self._fail(exc, "open read-only")
            if error is not None:
                raise error
        return self._ro

    def close(self) -> None:
        for c in (self._rw, self._ro):
            if c is not None:
                c.close()
        self._rw = self._ro = None

    def _q(self, conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        self.counter.add(sql)
        return conn.execute(sql, params).fetchall()

    def server_version(self) -> str | None:
        return sqlite3.sqlite_version

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
        user = "m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
        cols = self._q(
            conn,
            'SELECT m.name, p.cid, p.name, p.type, p."notnull", p.dflt_value, '
            f"p.pk, p.hidden FROM sqlite_master m, pragma_table_xinfo(m.name) p "
            f"WHERE {user} ORDER BY m.name, p.cid",
        )
        fks = self._q(
            conn,
            'SELECT m.name, p.id, p.seq, p."table", p."from", p."to", '
            "p.on_update, p.on_delete FROM sqlite_master m, "
            f"pragma_foreign_key_list(m.name) p WHERE {user} "
            "ORDER BY m.name, p.id, p.seq",
        )
        idx = self._q(
            conn,
            'SELECT m.name, il.name, il."unique", il.origin, il.partial, '
            "ii.seqno, ii.cid, ii.name FROM sqlite_master m, "
            "pragma_index_list(m.name) il, pragma_index_xinfo(il.name) ii "
            f"WHERE {user} AND ii.key = 1 ORDER BY m.name, il.name, ii.seqno",
        )
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
        counts: dict[str, int] = {}
        if exact_counts and table_sql:
            union = " UNION ALL ".join(
                f"SELECT {_literal(t)}, count(*) FROM {_quote(t)}" for t in table_sql
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
        sql = f"SELECT count(*) FROM {_qualified(table)}"
        return int(
            self._guard(f"count rows of {table}", lambda: self._q(self._read_conn(), sql))[0][0]
        )

    def table_sizes(self) -> dict[str, TableSize]:
        schema = self.inspect()
        return {
            t.name: TableSize(t.name, t.row_estimate, t.size_bytes, t.index_bytes, t.total_bytes)
            for t in schema.tables
        }

    # --- read-only query -----------------------------------------------------------------

    def query(
        self,
        sql: str,
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout_ms: int | None = None,
        offset: int = 0,
    ) -> QueryResult:
        max_rows = clamp_rows(max_rows)
        deadline = time.monotonic() + (timeout_ms or self.statement_timeout_ms) / 1000.0
        conn = self._read_conn()
        started = now()
        error: DatabaseError | None = None
        result: QueryResult | None = None
        authorizer = _Authorizer()
        conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 1000)
        try:
            conn.execute("BEGIN")
            authorizer = _Authorizer()
            conn.set_authorizer(authorizer)
            try:
                self.counter.add(sql)
                cur = conn.execute(sql)
                if not conn.in_transaction:
                    error = refused(self.label, "the statement ended the read-only transaction")
                elif cur.description is None:
                    error = refused(
                        self.label, "the statement returned no result set; only queries are allowed"
                    )
                else:
                    result = fetch_capped(
                        cur, [d[0] for d in cur.description], max_rows, started, skip=offset
                    )
            finally:
                conn.set_authorizer(None)
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
        except sqlite3.ProgrammingError as exc:
            if "one statement" in str(exc):
                error = self._refused_by_database(exc)
            else:
                error = self._fail(exc, "query")
        except sqlite3.Error as exc:
            if "not authorized" in str(exc) and authorizer.denied:
                error = refused(
                    self.label, f"the database denied {authorizer.denied}", denied=authorizer.denied
                )
            elif "not authorized" in str(exc) or "readonly" in str(exc).replace("-", ""):
                error = self._refused_by_database(exc)
            elif "too big" in str(exc):
                error = ResultTooLargeError(
                    f"query on {self.label} read or built a value over {MAX_VALUE_LENGTH} bytes, "
                    "the limit of the read-only connection, and was stopped",
                    hint="Return a part of the value (substr(x, 1, 1000), length(x)) instead.",
                )
            elif "interrupted" in str(exc):
                error = QueryTimeoutError(
                    f"query on {self.label} exceeded its timeout of "
                    f"{timeout_ms or self.statement_timeout_ms} ms and was interrupted",
                    hint=QueryTimeoutError.default_hint,
                )
            else:
                error = self._fail(exc, "query")
        finally:
            conn.set_progress_handler(None, 0)
        if error is not None:
            self._discard_read_conn()
            raise error
        assert result is not None
        return result

    def _discard_read_conn(self) -> None:
        if self._ro is not None:
            self._ro.close()
            self._ro = None

    # --- execution and rows --------------------------------------------------------------

    def _execute(self, statements: Sequence[str], counts: list[int], o: ExecuteOptions) -> None:
        conn = self.conn
        if o.lock_timeout_ms:
            conn.execute(f"PRAGMA busy_timeout = {int(o.lock_timeout_ms)}")
        try:
            if not o.autocommit:
                conn.execute("BEGIN IMMEDIATE")
            for stmt in statements:
                self.counter.add(stmt)
                if stmt.strip().rstrip(";").count(";"):
                    conn.executescript(stmt) if o.autocommit else _exec_many(conn, stmt)
                    counts.append(-1)
                else:
                    counts.append(conn.execute(stmt).rowcount)
            if not o.autocommit:
                conn.execute("ROLLBACK" if o.rollback else "COMMIT")
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _keyset_page(self, table, keys, columns, limit, after, end_at):
        select = ", ".join(_quote(c) for c in columns) if columns else "*"
        sql, params = keyset_sql(
            _qualified(table), [_quote(k) for k in keys], select, "?", after, end_at, limit
        )
        conn = self.conn if not self._exists() else self._read_conn()
        self.counter.add(sql)
        cur = conn.execute(sql, params)
        return [d[0] for d in cur.description][len(keys) :], cur.fetchall()

    # --- the executor's door ---------------------------------------------------------------

    def _transaction(
        self,
        statements: Sequence[StatementLike],
        lock_timeout_ms: int | None,
        timeout_ms: int | None,
        fetch_last: bool,
    ) -> tuple[list[int], list[tuple[Any, ...]]]:
        conn = self.conn
        counts: list[int] = []
        if lock_timeout_ms:
            conn.execute(f"PRAGMA busy_timeout = {int(lock_timeout_ms)}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = self._run_each(statements, counts, fetch_last, conn.execute)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return counts, rows

    def try_session_lock(self, name: str) -> bool:
        """SQLite has no session lock: an advisory lock file beside the database, held by this
        process (freed on exit); an in-memory database says yes (its writers are serialised
        by the file lock anyway)."""
        if self.url.database in (None, "", ":memory:"):
            return True
        if (id(self), name) in _FILE_LOCKS:
            return True
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        database = Path(self.url.database)
        handle = database.with_name(f".{database.name}.{digest}.lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        _FILE_LOCKS[(id(self), name)] = handle
        return True

    def release_session_lock(self, name: str) -> None:
        handle = _FILE_LOCKS.pop((id(self), name), None)
        if handle is not None:
            handle.close()

    def skip_foreign_keys(self) -> None:
        self.conn.execute("PRAGMA foreign_keys = OFF")

    def _insert_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        conn = self.conn
        conn.execute("BEGIN")
        conn.executemany(sql, [tuple(r) for r in rows])
        conn.execute("COMMIT")

    def throwaway_database(self, name: str) -> str:
        """A copy of the file (the online backup API), emptied of rows."""
        target = str(Path(self.url.database or "").with_name(name + ".db"))
        dst = sqlite3.connect(target)
        try:
            self.conn.backup(dst)
            dst.execute("PRAGMA foreign_keys = OFF")
            tables = [r[0] for r in dst.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )]  # fmt: skip
            for t in tables:
                dst.execute(f"DELETE FROM {self.quote_identifier(t)}")
            dst.commit()
        finally:
            dst.close()
        return f"sqlite:///{target}"

    def drop_throwaway(self, name: str) -> None:
        Path(self.url.database or "").with_name(name + ".db").unlink(missing_ok=True)


def _exec_many(conn: sqlite3.Connection, script: str) -> None:
    """Several statements inside the caller's transaction (executescript would COMMIT)."""
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            conn.execute(buf)
            buf = ""
    if buf.strip():
        conn.execute(buf)


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
    segments = _split_top(_body(ddl))
    col_segment: dict[str, str] = {}
    checks: list[m.CheckConstraint] = []
    for seg in segments:
        first = re.match(r"(\"[^\"]+\"|`[^`]+`|\[[^\]]+\]|\S+)", seg)
        word = _unquote(first.group(1)) if first else ""
        if word.upper() not in ("CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"):
            col_segment[word] = seg
        for at, expr in _paren_after(seg, "CHECK"):
            checks.append(m.CheckConstraint(name=_constraint_name(seg, at), expression=expr))
    pk_cols = sorted((c for c in info["cols"] if c[5]), key=lambda c: c[5])
    columns = []
    for cid, cname, decl, notnull, default, pk, hidden in info["cols"]:
        seg = col_segment.get(cname, "")
        generated = None
        if hidden in (2, 3):
            found = _paren_after(seg, "AS")
            generated = found[0][1] if found else None
        identity = None
        if len(pk_cols) == 1 and pk and (decl or "").upper() == "INTEGER":
            identity = (
                m.IDENTITY_AUTOINCREMENT
                if re.search(r"\bAUTOINCREMENT\b", seg, re.IGNORECASE)
                else m.IDENTITY_ROWID
            )
        type_name, length, precision, scale = _sqlite_type(decl or "")
        columns.append(
            m.Column(
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
        )
    fks = []
    for _fid, parts in sorted(info["fks"].items()):
        ref = parts[0][0]
        fks.append(
            m.ForeignKey(
                name=None,
                columns=tuple(p[1] for p in parts),
                ref_table=ref,
                ref_columns=tuple(p[2] for p in parts if p[2] is not None),
                on_update=parts[0][3],
                on_delete=parts[0][4],
            )
        )
    uniques, indexes = [], []
    for iname, entry in sorted(info["idx"].items()):
        ddl_i = index_sql.get(iname) or ""
        parts = list(entry["parts"])
        if None in parts and ddl_i:
            exprs = _split_top(_body(ddl_i))
            parts = [
                p if p is not None else (exprs[i] if i < len(exprs) else "?")
                for i, p in enumerate(parts)
            ]
        predicate = None
        if entry["partial"] and ddl_i:
            where = [
                pos
                for pos, _, depth in _scan(ddl_i)
                if depth == 0 and ddl_i[pos : pos + 5].upper() == "WHERE"
            ]
            predicate = ddl_i[where[-1] + 5 :].strip() if where else None
        cols = tuple(parts)
        if entry["origin"] == "u":
            uniques.append(m.UniqueConstraint(name=None, columns=cols))
        indexes.append(
            m.Index(
                name=iname,
                columns=cols,
                unique=entry["unique"],
                method="btree",
                predicate=predicate,
                primary=entry["origin"] == "pk",
                constraint=iname if entry["origin"] in ("u", "pk") else None,
                size_bytes=sizes.get(iname),
                definition=ddl_i or None,
            )
        )
    index_bytes = sum(i.size_bytes or 0 for i in indexes) if sizes else None
    heap = sizes.get(name) if sizes else None
    return m.Table(
        name=name,
        schema="main",
        columns=tuple(columns),
        primary_key=m.PrimaryKey(None, tuple(c[1] for c in pk_cols)) if pk_cols else None,
        uniques=tuple(uniques),
        foreign_keys=tuple(fks),
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


def sqlite_path_exists(path: str) -> bool:
    return path == ":memory:" or os.path.exists(path)
