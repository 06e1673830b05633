"""Driver exceptions become our errors here, redacted, with a hint and without a chain.

Driver messages may quote a connection string (and so a password). Every backend turns a driver
exception into one of the classes below with `translate()`, which redacts the text with the
connection's own password as an extra secret. Callers raise the result *outside* the `except`
block (see `guard`), so neither `__cause__` nor `__context__` carries the driver exception into
a traceback, a log or an MCP error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from datamigration.errors import DatabaseError, ReadOnlyViolationError, UserInputError
from datamigration.redact import redact_text

T = TypeVar("T")


class ConnectionFailedError(DatabaseError):
    """The server could not be reached (host, port, network, timeout)."""

    default_hint = "Check the host and port, that the server runs, and firewalls in between."


class AuthenticationFailedError(DatabaseError):
    """The server refused the user name or password."""

    default_hint = (
        "Check the user and password; keep the password in an environment variable referenced "
        "as ${VAR} in datamigration.toml."
    )


class UnknownDatabaseError(DatabaseError):
    """The server runs, but the named database does not exist."""


class TableNotFoundError(DatabaseError):
    """A statement named a table (or relation) the database does not have."""

    default_hint = "Check the table name (datamigration inspect lists them)."


class DriverMissingError(DatabaseError):
    """The Python driver for this database is not installed."""


class QueryTimeoutError(DatabaseError):
    """The statement ran longer than its timeout and was cancelled by the server."""

    default_hint = "Narrow the query (WHERE, LIMIT) or raise the timeout."


class ResultTooLargeError(DatabaseError):
    """The statement built a value larger than the read-only connection allows."""

    default_hint = "Select a part of the value (substr, length) instead of all of it."


#: The read-only query path refused the statement (write, escape, several statements). An
#: alias, so tools and the CLI report the shared category name the model already knows.
QueryRefusedError = ReadOnlyViolationError


class UnsupportedOperationError(UserInputError):
    """The backend cannot do this (e.g. SQL on MongoDB); see its capability attributes."""


def driver_text(exc: BaseException, secrets: Iterable[str | None] = ()) -> str:
    """First meaningful line of a driver message, redacted."""
    args = getattr(exc, "args", ())
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        raw = f"{args[1]} (error {args[0]})"  # PyMySQL: (code, message)
    else:
        raw = str(exc).strip() or type(exc).__name__
    lines = [ln.strip() for ln in raw.splitlines() if ln.strip()]
    text = lines[0] if lines else raw
    # psycopg puts the useful server message on the following lines ("DETAIL", "HINT").
    detail = next((ln for ln in lines[1:] if ln.startswith("DETAIL:")), None)
    if detail:
        text = f"{text} ({detail})"
    return redact_text(text, extra_secrets=[s for s in secrets if s])


def translate(
    exc: BaseException,
    *,
    label: str,
    action: str,
    secrets: Iterable[str | None] = (),
    cls: type[DatabaseError] = DatabaseError,
    hint: str | None = None,
    **data: Any,
) -> DatabaseError:
    """Build (not raise) our error for a driver exception. `label` is already redacted."""
    secrets = list(secrets)
    message = redact_text(f"{action} failed on {label}: {driver_text(exc, secrets)}", secrets)
    err = cls(message, hint=hint, driver_error=type(exc).__name__, **data)
    return err


def guard(fn: Callable[[], T], on_error: Callable[[BaseException], DataMigrationErrorLike]) -> T:
    """Run `fn`; a driver exception becomes `on_error(exc)`, raised with no chained cause."""
    error: BaseException | None = None
    try:
        return fn()
    except Exception as exc:
        if isinstance(exc, DatabaseError | UserInputError):
            raise
        error = on_error(exc)
        if error is None:
            raise
    raise error  # outside the except block: no __context__ pointing at the driver exception


DataMigrationErrorLike = Any


#: PostgreSQL lock_not_available (lock_timeout, NOWAIT); MySQL/MariaDB lock wait timeout.
PG_LOCK_TIMEOUT = "55P03"
MYSQL_LOCK_TIMEOUT = 1205
#: deadlock_detected / serialization_failure (PostgreSQL), deadlock (MySQL): the transaction
#: was rolled back by the server and is safe to run again
PG_TRANSIENT = {"40P01", "40001"}
MYSQL_DEADLOCK = 1213


def is_lock_timeout(error: BaseException) -> bool:
    """True when a statement gave up waiting for a lock, or lost a deadlock: nothing was
    changed, and running it again after a pause is the right thing to do.

    Read from the codes our errors carry (`sqlstate`, `code`) and their text, so a caller
    holding only the error (a retry loop) needs no backend to decide."""
    data = getattr(error, "data", {}) or {}
    if data.get("sqlstate") == PG_LOCK_TIMEOUT or data.get("code") == MYSQL_LOCK_TIMEOUT:
        return True
    if data.get("sqlstate") in PG_TRANSIENT or data.get("code") == MYSQL_DEADLOCK:
        return True
    text = str(error).lower()
    return (
        "lock timeout" in text
        or "lock wait timeout" in text
        or "database is locked" in text
        or "database table is locked" in text
        or "deadlock" in text
    )
