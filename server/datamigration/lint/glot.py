"""sqlglot for the dialects pglast does not cover, plus the text helpers their rules share.

sqlglot tells us whether a statement is valid and gives names; statements it only half
understands come back as a generic Command, so the MySQL and SQLite rules read the
comment-free, whitespace-normalised text for clauses (ALGORITHM=, LOCK=) that sqlglot keeps
opaque. A statement sqlglot rejects outright is reported as a parse error.
"""

from __future__ import annotations

import logging
import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from datamigration.db.dialect import dialect_of

# sqlglot warns on stderr for every statement it parses as a generic Command; not our user's
# problem, and it would flood a 10,000-statement file.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

_COMMENTS = re.compile(r"--[^\n]*|#[^\n]*|/\*.*?\*/", re.DOTALL)
_STRINGS = re.compile(r"'(?:[^'\\]|\\.|'')*'")


def parse(text: str, dialect: str) -> tuple[exp.Expression | None, str | None]:
    """(expression, None) or (None, error message). Never raises."""
    try:
        tree = sqlglot.parse_one(text, read=dialect)
    except SqlglotError as exc:
        return None, str(exc).splitlines()[0][:200]
    except Exception as exc:  # noqa: BLE001 - a crash inside sqlglot is still a parse error
        return None, f"{type(exc).__name__}: {exc}"[:200]
    return tree, None


def normalize(text: str) -> str:
    """Upper-case text without comments or string contents, single-spaced."""
    t = _COMMENTS.sub(" ", text)
    t = _STRINGS.sub("''", t)
    return " ".join(t.split()).upper()


def table_name(tree: exp.Expression | None, norm: str, pattern: re.Pattern[str]) -> str:
    if isinstance(tree, exp.Alter | exp.Create | exp.Drop) and isinstance(tree.this, exp.Table):
        return tree.this.name
    m = pattern.search(norm)
    return m.group(1).strip('`"[]').lower() if m else ""


def quote_mysql(name: str) -> str:
    return dialect_of("mysql").quote_part(name)


def quote_sqlite(name: str) -> str:
    return dialect_of("sqlite").quote_part(name)
