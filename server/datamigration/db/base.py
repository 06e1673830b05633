"""The backend contract, its capability flags, and the registry that picks a backend by URL.

Engines never branch on a database's name: they ask a backend what it can do through class
attributes (`transactional_ddl`, `concurrent_index`, `logical_decoding`, ...) and call the same
methods on every backend. `connect(url_or_name, workspace)` resolves a URL or a configured name
and returns an open backend of the right class; backends register themselves per URL scheme
and their modules (and so their drivers) are imported only when a URL of theirs is used.

Methods a backend cannot support raise UnsupportedOperationError; the default implementations
here do exactly that, so a document store (MongoDB) only implements what applies to it.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, TypeVar

from datamigration.db.errors import (
    DriverMissingError,
    QueryRefusedError,
    UnsupportedOperationError,
    translate,
)
from datamigration.db.model import Schema
from datamigration.db.urls import ConnectionURL, resolve
from datamigration.errors import DatabaseError, NotFoundError, UserInputError

T = TypeVar("T")

DEFAULT_CONNECT_TIMEOUT_S = 10
DEFAULT_STATEMENT_TIMEOUT_MS = 30_000
DEFAULT_MAX_ROWS = 500
#: bounds of a rolled-back measurement: it holds row locks, so it waits little and runs briefly
MEASURE_LOCK_TIMEOUT_MS = 500
MEASURE_TIMEOUT_MS = 10_000

#: first words of statements a ROLLBACK cannot undo on a backend without transactional DDL
#: (MySQL/MariaDB commit implicitly before and after them), and of transaction control, which
#: would end the measured transaction early everywhere.
_IMPLICIT_COMMIT = frozenset(
    {
        "ALTER", "CREATE", "DROP", "RENAME", "TRUNCATE", "GRANT", "REVOKE", "LOCK", "UNLOCK",
        "ANALYZE", "OPTIMIZE", "REPAIR", "INSTALL", "UNINSTALL", "FLUSH", "LOAD",
    }
)  # fmt: skip
_TRANSACTION_CONTROL = frozenset(
    {"BEGIN", "START", "COMMIT", "ROLLBACK", "END", "ABORT", "PREPARE", "VACUUM"}
)


@dataclass(frozen=True)
class QueryResult:
    """Rows of a read-only query. The rows are data from the database: never instructions.

    `rows` hold JSON-able values (see `jsonable`); `truncated` is True when more rows existed
    than `max_rows`.
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    truncated: bool
    row_count: int
    elapsed_ms: float
    untrusted_data: bool = True
    #: what the caller should know about how the answer was made (values cut, a privileged
    #: account); listed in the answer only when there is something to say
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "untrusted_data": True,
            "columns": list(self.columns),
            "rows": [list(r) for r in self.rows],
            "row_count": self.row_count,
            "truncated": self.truncated,
            "elapsed_ms": round(self.elapsed_ms, 2),
        }
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


@dataclass(frozen=True)
class ExecuteResult:
    """Outcome of `Backend.execute`: one rowcount per statement (-1 when not applicable)."""

    statements: int
    rowcounts: tuple[int, ...]
    elapsed_ms: float
    committed: bool


@dataclass(frozen=True)
class ExecuteOptions:
    """How `Backend.execute` runs its statements (what each backend's `_execute` receives)."""

    autocommit: bool = False
    timeout_ms: int | None = None
    lock_timeout_ms: int | None = None
    rollback: bool = False  # end the one transaction with ROLLBACK instead of COMMIT


@dataclass(frozen=True)
class RowBatch:
    """One keyset page of `iter_rows`: the rows and the key of the last row (resume point)."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    last_key: tuple[Any, ...] | None


@dataclass(frozen=True)
class TableSize:
    table: str
    row_estimate: int | None
    size_bytes: int | None
    index_bytes: int | None
    total_bytes: int | None


@dataclass
class QueryCounter:
    """Counts the queries a backend sends; introspection exposes the count in Schema."""

    count: int = 0
    statements: list[str] = field(default_factory=list)

    def add(self, sql: str) -> None:
        self.count += 1
        if len(self.statements) < 200:
            self.statements.append(sql.strip().split("\n", 1)[0][:120])


class Backend:
    """Base class of every database backend. Subclasses set the class attributes below."""

    #: URL schemes this backend serves, e.g. ("postgresql", "postgres").
    schemes: ClassVar[tuple[str, ...]] = ()
    #: dialect name used across the product (postgresql / mysql / sqlite / mongodb).
    dialect: ClassVar[str] = ""
    #: Python package needed, for the "driver missing" hint.
    driver: ClassVar[str] = ""

    # Capabilities: what engines may rely on. Defaults are the conservative answer.
    transactional_ddl: ClassVar[bool] = False  # DDL can be rolled back with the transaction
    concurrent_index: ClassVar[bool] = False  # build an index without blocking writes
    online_ddl: ClassVar[bool] = False  # ALTER TABLE ... ALGORITHM=INPLACE/INSTANT, LOCK=NONE
    logical_decoding: ClassVar[bool] = False  # change data capture from the WAL
    server_side_cursors: ClassVar[bool] = False  # stream large results without client memory
    copy: ClassVar[bool] = False  # COPY FROM/TO STDIN bulk protocol
    returning: ClassVar[bool] = False  # INSERT/UPDATE ... RETURNING
    not_valid_constraints: ClassVar[bool] = False  # ADD CONSTRAINT ... NOT VALID + VALIDATE
    lock_timeout: ClassVar[bool] = False  # a per-statement lock wait limit
    sequences: ClassVar[bool] = False
    enum_types: ClassVar[bool] = False  # named enum types (PostgreSQL) vs column enums (MySQL)
    replica_identity: ClassVar[bool] = False
    documents: ClassVar[bool] = False  # a document store: collections instead of tables
    sql: ClassVar[bool] = True  # accepts SQL statements

    #: the driver's exception classes: `_guard` turns them into our errors with `_fail`
    driver_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    def __init__(
        self,
        url: ConnectionURL,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
        statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    ) -> None:
        self.url = url
        self.connect_timeout = float(url.options.get("connect_timeout", connect_timeout))
        self.statement_timeout_ms = int(
            url.options.get("statement_timeout_ms", statement_timeout_ms)
        )
        self.counter = QueryCounter()

    # --- lifecycle ---------------------------------------------------------------------------

    def open(self) -> Backend:
        """Connect (and fail clearly: unreachable, wrong password, unknown database)."""
        return self

    def close(self) -> None:
        """Release connections; safe to call twice."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url.redacted}>"

    @property
    def label(self) -> str:
        return self.url.label

    @property
    def query_count(self) -> int:
        """How many queries this backend sent so far (for tests and benchmarks)."""
        return self.counter.count

    @classmethod
    def capabilities(cls) -> dict[str, bool]:
        names = [
            "transactional_ddl",
            "concurrent_index",
            "online_ddl",
            "logical_decoding",
            "server_side_cursors",
            "copy",
            "returning",
            "not_valid_constraints",
            "lock_timeout",
            "sequences",
            "enum_types",
            "replica_identity",
            "documents",
            "sql",
        ]
        return {n: bool(getattr(cls, n)) for n in names}

    # --- reading -----------------------------------------------------------------------------

    def server_version(self) -> str | None:
        return None

    def inspect(self, *, tables: Sequence[str] | None = None, exact_counts: bool = False) -> Schema:
        """Read the schema with a fixed number of queries (see Schema.query_count)."""
        raise self._unsupported("inspect")

    def query(
        self,
        sql: str,
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout_ms: int | None = None,
        offset: int = 0,
    ) -> QueryResult:
        """Run one statement read-only, enforced by the database; always rolled back."""
        raise self._unsupported("query")

    def exact_count(self, table: str) -> int:
        raise self._unsupported("exact_count")

    def table_sizes(self) -> dict[str, TableSize]:
        raise self._unsupported("table_sizes")

    def iter_rows(
        self,
        table: str,
        key_columns: Sequence[str],
        columns: Sequence[str] | None = None,
        batch_size: int = 1000,
        start_after: Sequence[Any] | None = None,
        end_at: Sequence[Any] | None = None,
    ) -> Iterator[RowBatch]:
        """Keyset pages ordered by `key_columns`, strictly after `start_after`, up to and
        including `end_at`. Memory stays at one batch however large the table is.

        The paging is the same on every SQL backend; each one only reads a page
        (`_keyset_page`)."""
        keys = list(key_columns)
        if not keys:
            raise NotFoundError(
                "iter_rows needs at least one key column", hint="Pass the primary key columns."
            )
        n = len(keys)
        last = tuple(start_after) if start_after is not None else None
        while True:
            names, rows = self._guard(
                f"read rows of {table}",
                lambda last=last: self._keyset_page(table, keys, columns, batch_size, last, end_at),
            )
            if not rows:
                return
            last = tuple(rows[-1][:n])
            yield RowBatch(columns=tuple(names), rows=[tuple(r[n:]) for r in rows], last_key=last)
            if len(rows) < batch_size:
                return

    def _keyset_page(
        self,
        table: str,
        keys: Sequence[str],
        columns: Sequence[str] | None,
        limit: int,
        after: tuple[Any, ...] | None,
        end_at: Sequence[Any] | None,
    ) -> tuple[Sequence[str], Sequence[Sequence[Any]]]:
        """One page: (names of the non-key columns, rows that start with the key values)."""
        raise self._unsupported("iter_rows")

    # --- writing (the executor's path) -------------------------------------------------------

    def execute(
        self,
        statements: Sequence[str],
        *,
        autocommit: bool = False,
        timeout_ms: int | None = None,
        lock_timeout_ms: int | None = None,
        rollback: bool = False,
    ) -> ExecuteResult:
        """Run statements in order: in one transaction (all or nothing) unless `autocommit`,
        where each statement commits on its own (needed for CREATE INDEX CONCURRENTLY).

        With `rollback` the transaction ends in ROLLBACK whatever happens: the statements run
        for real (locks, triggers, constraint checks, timing) and leave no data behind
        (`committed` is False). Statements a rollback cannot undo are refused first.

        A failure names the statement that failed and carries `executed` (how many ran)."""
        if rollback:
            self._check_rollbackable(statements, autocommit)
        started = time.perf_counter()
        counts: list[int] = []
        error: DatabaseError | None = None
        try:
            options = ExecuteOptions(autocommit, timeout_ms, lock_timeout_ms, rollback)
            self._execute(statements, counts, options)
        except self.driver_errors as exc:
            error = self._fail(exc, f"execute statement {len(counts) + 1} of {len(statements)}")
        if error is not None:
            error.data["executed"] = len(counts)
            raise error
        return ExecuteResult(
            statements=len(statements),
            rowcounts=tuple(counts),
            elapsed_ms=elapsed_ms(started),
            committed=not rollback,
        )

    def measure_in_rolled_back_transaction(
        self,
        statements: Sequence[str],
        *,
        lock_timeout_ms: int = MEASURE_LOCK_TIMEOUT_MS,
        timeout_ms: int = MEASURE_TIMEOUT_MS,
    ) -> float:
        """Seconds the statements take when run in one transaction that is then rolled back.

        For estimates measured on the real table (a sample backfill batch) without changing
        it: the statement and lock timeouts bound how long the sample may hold or wait for
        locks, and a failure (a lock timeout on a busy table) is raised, never mistaken for a
        measurement."""
        result = self.execute(
            statements, timeout_ms=timeout_ms, lock_timeout_ms=lock_timeout_ms, rollback=True
        )
        return result.elapsed_ms / 1000.0

    def _check_rollbackable(self, statements: Sequence[str], autocommit: bool) -> None:
        """Refuse what a ROLLBACK would not undo, before anything runs."""
        if autocommit:
            raise UserInputError(
                "a rolled-back run needs one transaction; autocommit commits each statement",
                hint="Drop autocommit (statements that need it cannot be rolled back).",
            )
        for i, stmt in enumerate(statements, 1):
            word = _first_word(stmt)
            if word == "SET" and "AUTOCOMMIT" in stmt.upper():
                word = "COMMIT"  # SET autocommit = 1 commits what ran before it
            if word in _TRANSACTION_CONTROL or (
                word in _IMPLICIT_COMMIT and not self.transactional_ddl
            ):
                why = (
                    "it ends the transaction"
                    if word in _TRANSACTION_CONTROL
                    else f"{self.dialect} commits DDL implicitly"
                )
                raise UserInputError(
                    f"statement {i} ({word}) cannot run in a rolled-back transaction: {why}",
                    hint="Measure data statements (INSERT/UPDATE/DELETE/SELECT) only; run DDL "
                    "through the planned steps, where it is confirmed and reversible.",
                    statement=i,
                )

    def _execute(self, statements: Sequence[str], counts: list[int], o: ExecuteOptions) -> None:
        """Run the statements, appending each one's rowcount to `counts` as it completes;
        roll back what the database would otherwise keep, and let driver errors through."""
        raise self._unsupported("execute")

    # --- errors --------------------------------------------------------------------------

    def _secrets(self) -> list[str | None]:
        return [self.url.password]

    def _fail(self, exc: BaseException, action: str) -> DatabaseError:
        """Our error for a driver exception (backends map codes to narrower classes)."""
        return translate(exc, label=self.label, action=action, secrets=self._secrets())

    def _refused_by_database(self, exc: BaseException, **data: Any) -> DatabaseError:
        """The database itself refused a statement on the read-only query path."""
        return translate(
            exc,
            label=self.label,
            action="read-only query",
            secrets=self._secrets(),
            cls=QueryRefusedError,
            hint=QueryRefusedError.default_hint,
            **data,
        )

    def _guard(self, action: str, fn: Callable[[], T]) -> T:
        """Run `fn`; a driver error becomes `_fail(exc, action)`, raised outside the `except`
        block so no driver exception (and so no password) rides along as its context."""
        error: DatabaseError | None = None
        try:
            return fn()
        except self.driver_errors as exc:
            error = self._fail(exc, action)
        raise error

    def _unsupported(self, what: str) -> UnsupportedOperationError:
        return UnsupportedOperationError(
            f"{what} is not supported by the {self.dialect or type(self).__name__} backend",
            hint="Check the backend's capabilities (Backend.capabilities()).",
            operation=what,
        )


# --- registry -------------------------------------------------------------------------------

#: scheme -> module that defines (and registers) its backend; imported on first use.
BACKEND_MODULES: dict[str, str] = {
    "postgresql": "datamigration.db.postgres",
    "postgres": "datamigration.db.postgres",
    "postgresql+psycopg": "datamigration.db.postgres",
    "mysql": "datamigration.db.mysql",
    "mariadb": "datamigration.db.mysql",
    "mysql+pymysql": "datamigration.db.mysql",
    "mariadb+pymysql": "datamigration.db.mysql",
    "sqlite": "datamigration.db.sqlite",
    "mongodb": "datamigration.db.mongodb",
    "mongodb+srv": "datamigration.db.mongodb",
}

_REGISTRY: dict[str, type[Backend]] = {}


def register_backend(cls: type[Backend]) -> type[Backend]:
    """Class decorator: make `cls` the backend for each of its `schemes`."""
    for scheme in cls.schemes:
        _REGISTRY[scheme] = cls
    return cls


def backend_class(url: ConnectionURL) -> type[Backend]:
    """The registered class for this URL's scheme, importing its module on first use."""
    if url.scheme not in _REGISTRY:
        module = BACKEND_MODULES.get(url.scheme)
        if module is not None:
            error: DriverMissingError | None = None
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name == module:
                    raise
                error = DriverMissingError(
                    f"the Python driver for {url.dialect} ({exc.name}) is not installed; "
                    f"cannot connect to {url.label}",
                    hint=f"Install it into the server's environment: pip install {exc.name}",
                    driver=exc.name,
                )
            if error is not None:
                raise error
    cls = _REGISTRY.get(url.scheme)
    if cls is None:
        raise UnsupportedOperationError(
            f"no backend for {url.scheme}:// URLs",
            hint="Supported: " + ", ".join(sorted(BACKEND_MODULES)),
        )
    return cls


def connect(
    url_or_name: str | ConnectionURL,
    workspace: Any | None = None,
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
) -> Backend:
    """Open the backend for a URL or a configured connection name. Use as a context manager."""
    url = url_or_name if isinstance(url_or_name, ConnectionURL) else resolve(url_or_name, workspace)
    cls = backend_class(url)
    backend = cls(url, connect_timeout=connect_timeout, statement_timeout_ms=statement_timeout_ms)
    return backend.open()


def inspect_schema(
    backend: Backend,
    *,
    tables: Sequence[str] | None = None,
    exact_counts: bool = False,
    sample_size: int | None = None,
) -> Schema:
    """`backend.inspect` with the options the CLI and MCP faces offer.

    `sample_size` (documents read to infer a collection's fields) exists only where documents
    are sampled; a SQL database's schema is declared, so asking for a sample there is refused
    rather than silently ignored."""
    if sample_size is None:
        return backend.inspect(tables=tables, exact_counts=exact_counts)
    if not backend.documents:
        raise UserInputError(
            f"a sample size applies to MongoDB collections; {backend.dialect} tables declare "
            "their columns",
            hint="Drop the sample size for SQL databases.",
        )
    if sample_size < 0:
        raise UserInputError(
            f"the sample size must be 0 or more, not {sample_size}",
            hint="Use e.g. 1000 (0 skips sampling: counts and indexes only).",
        )
    return backend.inspect(  # type: ignore[call-arg]
        tables=tables, exact_counts=exact_counts, sample_size=sample_size
    )


def keyset_sql(
    source: str,
    keys: Sequence[str],
    select: str,
    mark: str,
    after: Sequence[Any] | None,
    end_at: Sequence[Any] | None,
    limit: int,
) -> tuple[str, list[Any]]:
    """A keyset page as SQL text for drivers that take text: `keys` and `source` are already
    quoted, `mark` is the driver's placeholder. Row-value comparison keeps composite keys in
    order (`(a, b) > (?, ?)`)."""
    order = ", ".join(keys)
    marks = "(" + ", ".join([mark] * len(keys)) + ")"
    where, params = [], []
    if after is not None:
        where.append(f"({order}) > {marks}")
        params.extend(after)
    if end_at is not None:
        where.append(f"({order}) <= {marks}")
        params.extend(end_at)
    sql = (
        f"SELECT {order}, {select} FROM {source} "
        f"{'WHERE ' + ' AND '.join(where) if where else ''} "
        f"ORDER BY {order} LIMIT {int(limit)}"
    )
    return sql, params


def jsonable(value: Any) -> Any:
    """A database value as JSON can carry it without losing meaning (Decimal as text)."""
    import datetime
    import decimal
    import math
    import uuid

    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return {"$binary_hex": data[:256].hex(), "length": len(data)}
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return str(value)


def _first_word(sql: str) -> str:
    """The statement's first keyword, upper-case, after leading comments and parentheses."""
    text = sql.lstrip()
    while True:
        if text.startswith("--"):
            text = text.partition("\n")[2].lstrip()
        elif text.startswith("/*"):
            text = text.partition("*/")[2].lstrip()
        elif text.startswith("("):
            text = text[1:].lstrip()
        else:
            break
    word = ""
    for ch in text:
        if not (ch.isalpha() or ch == "_"):
            break
        word += ch
    return word.upper()


def elapsed_ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
