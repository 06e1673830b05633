"""The SQLite read-only guard: an authorizer the engine consults while compiling a statement.

Only reads and allow-listed built-in functions pass, so ``PRAGMA writable_schema=1``, ATTACH,
``load_extension``, COMMIT and any write are denied by the engine itself, before the statement
runs; `MAX_VALUE_LENGTH` bounds every string and blob the read-only connection may build.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

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


class Authorizer:
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
