"""What a database's language is, apart from any connection: its name, its names in sqlglot and
in the lint catalogue, how it quotes identifiers and marks parameters.

Each database package has a driver-free `dialect` module with one subclass of `Dialect`; its
backend class inherits it, so `backend.quote_identifier(...)` and `dialect_of("mysql")
.quote_identifier(...)` are the same one way. Engines that hold only a dialect name (a plan,
a lint run, a validation query) ask `dialect_of(name)` instead of comparing the name.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, ClassVar

from datamigration.errors import UserInputError


class Dialect:
    """The language facts of one database; backends inherit them."""

    #: dialect name used across the product (postgresql / mysql / sqlite / mongodb).
    dialect: ClassVar[str] = ""
    #: this dialect's name in sqlglot (statements parsed, transpiled, rendered) and in the
    #: lint rule catalogue (`Rule.dialect`); empty where the tool does not apply
    sqlglot_dialect: ClassVar[str] = ""
    lint_dialect: ClassVar[str] = ""
    #: the driver's parameter marker in a statement with parameters (`%s`, or `?` in sqlite3)
    placeholder: ClassVar[str] = "%s"
    #: the character that quotes an identifier (doubled inside it)
    identifier_quote: ClassVar[str] = '"'
    documents: ClassVar[bool] = False  # a document store: collections instead of tables
    sql: ClassVar[bool] = True  # accepts SQL statements
    #: a file opened in-process rather than a server (the demo makes its own)
    embedded: ClassVar[bool] = False
    #: the server's port when a URL names none (two URLs of one database compare equal)
    default_port: ClassVar[int | None] = None
    #: can hash rows in a query (md5): the diff sums hashes in the database, else streams
    hashes_in_database: ClassVar[bool] = True
    #: has a regular-expression match operator (else a regex rule is checked on the client)
    regexp: ClassVar[bool] = True
    #: how two readers see one snapshot: "export" (a snapshot id other sessions import),
    #: "connection" (only by sharing one connection), "" (not at all)
    shared_snapshot: ClassVar[str] = ""
    #: the null-safe "differs from" operator of the demo's proof query
    null_safe_differs: ClassVar[str] = "IS NOT"
    #: block comments nest (/* /* */ */), which the statement splitter must follow
    nested_comments: ClassVar[bool] = False
    #: the linter can trace the locks a statement takes (db.locktrace)
    lock_trace: ClassVar[bool] = False
    #: fractional digits of seconds a timestamp keeps (the diff compares at the coarser side's)
    timestamp_precision: ClassVar[int] = 6
    #: the parser that checks a spec's expressions (plan/expressions.py): "pglast" (the
    #: database's own grammar) or "sqlglot"; empty where nothing is parsed as SQL
    parser: ClassVar[str] = "sqlglot"
    #: text a spec's expression may not hold even inside a string literal, beyond `;` and
    #: comments, because this dialect reads it as a comment or an escape
    expression_forbidden: ClassVar[tuple[str, ...]] = ()
    #: the literals of true and false, and of bytes (`{}`: their hex digits)
    true_false: ClassVar[tuple[str, str]] = ("1", "0")
    bytes_format: ClassVar[str] = "X'{}'"

    @classmethod
    def quote_part(cls, name: str) -> str:
        """Quote one identifier as it is (a dot inside it stays part of the name)."""
        q = cls.identifier_quote
        return q + name.replace(q, q + q) + q

    @classmethod
    def quote_identifier(cls, name: str) -> str:
        """Quote an identifier the dialect's one way (dotted names are quoted part by part)."""
        return ".".join(cls.quote_part(part) for part in name.split("."))

    # --- the checksum diff's SQL and kinds (validate/sqlrender, sides, canonical, diff) ------
    #: the integer division operator of a bucket number
    integer_division: ClassVar[str] = "/"
    #: `width_bucket(key, ARRAY[...])` buckets a one-column key by a binary search
    width_bucket: ClassVar[bool] = False
    #: most boundaries one bucketing query carries (without width_bucket, a CASE per boundary)
    bucket_bounds_limit: ClassVar[int] = 64
    #: the function that orders rows at random (a sample of keys)
    random_function: ClassVar[str] = "random()"
    #: a declared tinyint(1) is a boolean (MySQL's BOOLEAN)
    tinyint1_is_bool: ClassVar[bool] = False
    #: a declared TIMESTAMP is stored in UTC, so it compares as timestamptz
    timestamp_is_utc: ClassVar[bool] = False
    #: declared types name an affinity (SQLite): an unknown type name is read by substring
    type_affinity: ClassVar[bool] = False
    #: an index may cover an unbounded text or blob column (MySQL needs a prefix length)
    indexes_unbounded_text: ClassVar[bool] = True

    @classmethod
    def modulo(cls, expr: str, n: int) -> str:
        """`expr` modulo `n`: MOD(), because a literal % would be read as a parameter marker
        by the format-paramstyle drivers (psycopg, PyMySQL)."""
        return f"MOD({expr}, {n})"

    @classmethod
    def row_text_expr(cls, exprs: Sequence[str]) -> str:
        """A row's canonical text: fields joined by chr(31), NULL as chr(30)."""
        return " || chr(31) || ".join(f"COALESCE({e}, chr(30))" for e in exprs)

    @classmethod
    def row_hash_expr(cls, text: str) -> str:
        """The 60-bit md5 prefix of the row text, as an integer (summed per segment)."""
        return f"('x' || substr(md5({text}), 1, 15))::bit(60)::bigint"

    @classmethod
    def key_expr(cls, quoted: str, kind: str, type_kind: str | None) -> tuple[str, str]:
        """(comparable expression, parameter marker) of a key column compared as `kind`
        (text must order bytewise, as Python and MongoDB do)."""
        return quoted, cls.placeholder

    @classmethod
    def field_expr(cls, col: str, kind: str, type_kind: str | None, norm: Any) -> str | None:
        """The expression printing quoted column `col` (declared as `type_kind`) in the diff's
        canonical text of `kind` (validate/canonical.py; `norm` is its `Normalisation`), or
        None where this database cannot print it identically: that side is then hashed on
        the client."""
        return None

    # Literals and clauses of generated SQL (plans store complete statements, so values are
    # rendered, not bound). Names arrive already quoted.

    @classmethod
    def string_literal(cls, text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    @classmethod
    def boolean_literal(cls, value: bool) -> str:
        return cls.true_false[0] if value else cls.true_false[1]

    @classmethod
    def bytes_literal(cls, data: bytes) -> str:
        return cls.bytes_format.format(data.hex())

    @classmethod
    def insert_skipping_duplicates(cls, target: str, conflict: Sequence[str]) -> tuple[str, str]:
        """The verb and the tail of an INSERT ... SELECT into `target` that leaves a row whose
        `conflict` key is already there as it is (a batch re-run after a crash is a no-op)."""
        return "INSERT INTO", ""


#: dialect name -> the driver-free module that defines its `Dialect` subclass
DIALECT_MODULES: dict[str, str] = {
    "postgresql": "datamigration.db.postgres.dialect",
    "mysql": "datamigration.db.mysql.dialect",
    "sqlite": "datamigration.db.sqlite.dialect",
    "mongodb": "datamigration.db.mongodb.dialect",
}

_DIALECTS: dict[str, type[Dialect]] = {}


def register_dialect(cls: type[Dialect]) -> type[Dialect]:
    """Class decorator: make `cls` the answer of `dialect_of(cls.dialect)`."""
    _DIALECTS[cls.dialect] = cls
    return cls


def lint_dialect_of(name: str) -> type[Dialect] | None:
    """The dialect the linter calls `name` ("postgres", "mysql", "sqlite"), None for none."""
    for product in DIALECT_MODULES:
        found = dialect_of(product)
        if found.lint_dialect and found.lint_dialect == name:
            return found
    return None


def lint_dialects() -> tuple[str, ...]:
    """The linter's names of the dialects it lints ("postgres", "mysql", "sqlite")."""
    return tuple(d.lint_dialect for d in map(dialect_of, DIALECT_MODULES) if d.lint_dialect)


def find_dialect(name: str) -> type[Dialect] | None:
    """The language facts of a dialect by its product name (postgresql / mysql / sqlite /
    mongodb), importing its module on first use (no driver is imported); None for no dialect
    of ours."""
    if name not in _DIALECTS and name in DIALECT_MODULES:
        importlib.import_module(DIALECT_MODULES[name])
    return _DIALECTS.get(name)


def dialect_of(name: str) -> type[Dialect]:
    """`find_dialect`, refusing a name that is no dialect of ours."""
    found = find_dialect(name)
    if found is None:
        raise UserInputError(
            f"unknown dialect {name!r}",
            hint="Use one of: " + ", ".join(sorted(DIALECT_MODULES)),
        )
    return found
