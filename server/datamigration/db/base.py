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
from typing import Any, ClassVar, Self, TypeVar

from datamigration.db.backup import BackupSupport
from datamigration.db.capture import CaptureSupport
from datamigration.db.contracts import (
    ExecuteOptions,
    ExecuteResult,
    QueryCounter,
    QueryResult,
    RowBatch,
    StatementLike,
    TableSize,
    _first_word,
    elapsed_ms,
)
from datamigration.db.dialect import Dialect
from datamigration.db.errors import (
    DriverMissingError,
    QueryRefusedError,
    UnsupportedOperationError,
    translate,
)
from datamigration.db.metrics import MetricsSource
from datamigration.db.model import Schema
from datamigration.db.pause import PauseSupport
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
#: the capability flags `Backend.capabilities()` reports, in the order it reports them
CAPABILITIES = (
    "transactional_ddl", "concurrent_index", "online_ddl", "logical_decoding",
    "server_side_cursors", "copy", "returning", "not_valid_constraints", "lock_timeout",
    "sequences", "enum_types", "replica_identity", "documents", "sql",
)  # fmt: skip
_TRANSACTION_CONTROL = frozenset(
    {"BEGIN", "START", "COMMIT", "ROLLBACK", "END", "ABORT", "PREPARE", "VACUUM"}
)


class Backend(MetricsSource, Dialect, BackupSupport, CaptureSupport, PauseSupport):
    """Base class of every database backend. Subclasses set the class attributes below (the
    language facts, `dialect` to `quote_identifier`, come from the package's `Dialect`)."""

    #: URL schemes this backend serves, e.g. ("postgresql", "postgres").
    schemes: ClassVar[tuple[str, ...]] = ()
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
        return {n: bool(getattr(cls, n)) for n in CAPABILITIES}

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

    # --- the one door for statements (the executor's path) -------------------------------

    def execute(
        self,
        statements: Sequence[StatementLike],
        *,
        autocommit: bool = False,
        rollback: bool = False,
        timeout_ms: int | None = None,
        lock_timeout_ms: int | None = None,
        fetch_last: bool = False,
    ) -> ExecuteResult:
        """Run statements in order, in one of three modes: one transaction that commits (all or
        nothing; the default), each statement committing on its own (`autocommit`, needed for
        CREATE INDEX CONCURRENTLY), or one transaction that always ends in ROLLBACK
        (`rollback`): the statements run for real (locks, triggers, constraint checks, timing)
        and leave no data behind (`committed` is False). Statements a rollback cannot undo are
        refused first.

        A statement is plain SQL text, a `(sql, params)` pair, or a function of the row counts
        so far that returns one (so the executor's run state commits in the same transaction
        as the batch it describes, and says how many rows that batch wrote). The result holds
        each statement's row count and, with `fetch_last`, the rows of the last one (a
        backfill's next key boundary comes back from a read-write statement this way).

        A failure names the statement that failed ("run statement N of M") and carries
        `executed` (how many ran) and `elapsed_ms`."""
        if rollback:
            self._check_rollbackable(statements, autocommit)
        options = ExecuteOptions(autocommit, timeout_ms, lock_timeout_ms, rollback, fetch_last)
        started = time.perf_counter()
        counts: list[int] = []
        error: DatabaseError | None = None
        try:
            rows = self._execute(statements, counts, options)
        except self.driver_errors as exc:
            error = self._fail(exc, f"run statement {len(counts) + 1} of {len(statements)}")
        if error is not None:
            error.data["executed"] = len(counts)
            error.data["elapsed_ms"] = round(elapsed_ms(started), 1)
            raise error
        return ExecuteResult(
            statements=len(statements),
            rowcounts=tuple(counts),
            elapsed_ms=elapsed_ms(started),
            committed=not rollback,
            rows=tuple(rows),
        )

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read-write statement on its own (committed) and return its rows, if any."""
        return list(self.execute([(sql, params)], fetch_last=True).rows)

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

    def _check_rollbackable(self, statements: Sequence[StatementLike], autocommit: bool) -> None:
        """Refuse what a ROLLBACK would not undo, before anything runs."""
        if autocommit:
            raise UserInputError(
                "a rolled-back run needs one transaction; autocommit commits each statement",
                hint="Drop autocommit (statements that need it cannot be rolled back).",
            )
        for i, item in enumerate(statements, 1):
            if callable(item):
                raise UserInputError(
                    f"statement {i} is made while the run goes; a rolled-back run checks its "
                    "statements before anything runs",
                    hint="Pass SQL text or (sql, params) pairs.",
                    statement=i,
                )
            stmt = item if isinstance(item, str) else item[0]
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

    def _execute(
        self, statements: Sequence[StatementLike], counts: list[int], o: ExecuteOptions
    ) -> list[tuple[Any, ...]]:
        """The dialect's part of `execute`: bound the waits, begin (unless `o.autocommit`), run
        the statements through `_run_each`, then commit or roll back (`o.rollback`); roll back
        what the database would otherwise keep on a failure, and let driver errors through.
        Returns the rows of the last statement with `o.fetch_last`."""
        raise self._unsupported("execute")

    def _run_each(
        self,
        statements: Sequence[StatementLike],
        counts: list[int],
        fetch_last: bool,
        run: Callable[[str, tuple[Any, ...] | None], Any],
    ) -> list[tuple[Any, ...]]:
        """The one statement loop: run each statement with `run(sql, params)` (which returns
        the cursor; `params` is None for plain SQL text), appending its row count to `counts`;
        the rows of the last one with `fetch_last`."""
        rows: list[tuple[Any, ...]] = []
        for i, item in enumerate(statements):
            if isinstance(item, str):
                sql, params = item, None
            else:
                sql, values = item(counts) if callable(item) else item
                params = tuple(values)
            self.counter.add(sql)
            cur = run(sql, params)
            counts.append(cur.rowcount)
            if fetch_last and i == len(statements) - 1 and cur.description is not None:
                rows = [tuple(r) for r in cur.fetchall()]
        return rows

    @classmethod
    def segment_reader(cls, url: ConnectionURL, timeout_ms: int, *, gentle: bool = False) -> Any:
        """A new read-only connection for the validator's diff (`db.segments.Reader`)."""
        raise UnsupportedOperationError(f"no segment reader for {cls.dialect or cls.__name__}")

    def probe_latency_ms(self, target: str | None = None, *, timeout_ms: int = 5_000) -> float:
        """Wall time of one small read (`target`: the probe statement on SQL, the collection
        on a document store): the executor's view of how busy the database is.

        The probe never waits longer than `timeout_ms` (for a lock or for the server): a probe
        stuck behind a lock is itself the strain to report, so it returns the time it waited."""
        from datamigration.db.errors import QueryTimeoutError, is_lock_timeout

        started = time.perf_counter()
        try:
            self._probe_read(target, timeout_ms)
        except DatabaseError as exc:
            if not (is_lock_timeout(exc) or isinstance(exc, QueryTimeoutError)):
                raise
        return elapsed_ms(started)

    def _probe_read(self, target: str | None, timeout_ms: int) -> None:
        self.execute(
            [(target or "SELECT 1", ())],
            lock_timeout_ms=timeout_ms, timeout_ms=timeout_ms, fetch_last=True,
        )  # fmt: skip

    def replication_standbys(self) -> tuple[int, float | None, int | None] | None:
        """(standbys, worst replay lag in seconds, worst lag in bytes) of the connected
        standbys, None without any (or where the database has none to report)."""
        return None

    def index_state(self, index: str) -> str | None:
        """ "valid", "invalid" (a failed online build left it behind) or None (absent, or a
        database whose indexes are either there or not)."""
        return None

    def try_session_lock(self, name: str) -> bool:
        """Take a lock held by this connection until release or disconnect (a crash frees
        it): one executor per plan. Where there is no such lock, yes."""
        return True

    def release_session_lock(self, name: str) -> None:
        """Give back a lock taken by `try_session_lock`."""

    def keep_to_one_core(self) -> None:
        """For the executor's own session on a database that serves an application: no
        parallel workers for its index builds and scans (nothing to do without them)."""

    def cancel_autovacuum(self, tables: Sequence[str]) -> list[int]:
        """Cancel background vacuums holding a lock on `tables` that a DDL would queue behind;
        their process ids (none where there is no such thing)."""
        return []

    def skip_foreign_keys(self) -> None:
        """While filling a throwaway copy with a sample: do not check references (a sampled
        child row may point at a parent outside the sample)."""

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        """Insert rows as they are (used to fill a throwaway copy with sampled data)."""
        if not self.sql:
            raise self._unsupported("executor statements")
        if not rows:
            return 0
        cols = ", ".join(self.quote_identifier(c) for c in columns)
        marks = ", ".join([self.placeholder] * len(columns))
        sql = (
            f"INSERT INTO {self.quote_identifier(table)} ({cols}){self._insert_overriding} "
            f"VALUES ({marks})"
        )
        self._guard(f"copy rows into {table}", lambda: self._insert_many(sql, rows))
        return len(rows)

    #: what INSERT needs to write given values into identity columns (PostgreSQL)
    _insert_overriding: ClassVar[str] = ""

    def _insert_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """The driver's executemany, committed."""
        raise self._unsupported("executor statements")

    def throwaway_database(self, name: str) -> str:
        """Create an empty sibling database `name` with this one's schema; returns its URL."""
        raise self._unsupported("a throwaway copy (pass a staging database URL)")

    def drop_throwaway(self, name: str) -> None:
        """Remove a database made by `throwaway_database` (safe to call twice; nothing to do
        where it was refused)."""

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
    "postgresql": "datamigration.db.postgres.backend",
    "postgres": "datamigration.db.postgres.backend",
    "postgresql+psycopg": "datamigration.db.postgres.backend",
    "mysql": "datamigration.db.mysql.backend",
    "mariadb": "datamigration.db.mysql.backend",
    "mysql+pymysql": "datamigration.db.mysql.backend",
    "mariadb+pymysql": "datamigration.db.mysql.backend",
    "sqlite": "datamigration.db.sqlite.backend",
    "mongodb": "datamigration.db.mongodb.backend",
    "mongodb+srv": "datamigration.db.mongodb.backend",
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
