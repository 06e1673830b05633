"""CREATE INDEX CONCURRENTLY that cleans up after itself.

A concurrent build that fails (lock timeout while waiting for older transactions, deadlock, a
duplicate found by a unique build, a crash of the executor) leaves an INVALID index behind: it
is maintained on every write but never used, and `CREATE INDEX CONCURRENTLY IF NOT EXISTS`
would then skip it forever. So before every attempt the executor looks the index up in
`pg_index.indisvalid`; an invalid one is dropped with `DROP INDEX CONCURRENTLY` and the build is
tried again. A duplicate-key failure is not retried (the data must change first) but its
invalid index is still dropped, so the table is left as it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from datamigration.db.base import Backend
from datamigration.execute.retry import Backoff, RetryLog, with_lock_retry

_CREATE = re.compile(
    r"^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"((?:\"(?:[^\"]|\"\")+\"|[A-Za-z_][\w$]*)(?:\.(?:\"(?:[^\"]|\"\")+\"|[A-Za-z_][\w$]*))?)",
    re.IGNORECASE,
)


def concurrent_index_name(statement: str) -> str | None:
    """The (unquoted) name a CREATE INDEX CONCURRENTLY statement builds, else None."""
    m = _CREATE.match(statement)
    if not m:
        return None
    parts = re.findall(r"\"((?:[^\"]|\"\")+)\"|([A-Za-z_][\w$]*)", m.group(1))
    return ".".join(q.replace('""', '"') if q else bare.lower() for q, bare in parts)


def drop_invalid(backend: Backend, index: str) -> bool:
    """Drop `index` when a failed build left it invalid; True when one was dropped."""
    if backend.index_state(index) != "invalid":
        return False
    backend.execute(
        [f"DROP INDEX CONCURRENTLY IF EXISTS {backend.quote_identifier(index)}"], autocommit=True
    )
    return True


def build_index(
    backend: Backend,
    statement: str,
    *,
    lock_timeout_ms: int | None,
    retries: int,
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] | None = None,
    log: RetryLog | None = None,
) -> dict[str, object]:
    """Run one CREATE INDEX CONCURRENTLY until it leaves a valid index (or fails cleanly)."""
    index = concurrent_index_name(statement)
    dropped: list[str] = []
    log = log if log is not None else RetryLog()

    def attempt() -> None:
        if index and drop_invalid(backend, index):
            dropped.append(index)
        try:
            backend.execute([statement], autocommit=True, lock_timeout_ms=lock_timeout_ms)
        except Exception:
            if index and drop_invalid(backend, index):
                dropped.append(index)
            raise  # lock timeouts and deadlocks are retried by with_lock_retry

    kwargs = {"sleep": sleep} if sleep is not None else {}
    with_lock_retry(
        attempt,
        retries=retries,
        backoff=backoff,
        log=log,
        what=f"index build {index or ''}".strip(),
        **kwargs,
    )
    final = backend.index_state(index) if index else None
    return {"index": index, "state": final, "dropped_invalid": len(dropped), **log.to_dict()}
