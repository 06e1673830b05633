"""Lock tracing for `lint --trace`: the locks each migration statement takes and the tables it
rewrites, measured on a scratch copy of the tables it touches.

It lives beside the linter, its only user (`lint/live.py`), rather than in db/: it is a
measurement the linter makes, not a way into a database. It reaches PostgreSQL only through
the backend that `datamigration.db.connect` opened (its session and `driver_errors`) and
imports no driver. `locks` runs the trace, `scratch` makes and drops the copy, `sql` reads
and rewrites the statements with pglast.
"""

from datamigration.lint.trace.locks import StatementTrace, TraceSetupError, trace_statements

__all__ = ["StatementTrace", "TraceSetupError", "trace_statements"]
