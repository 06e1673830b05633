"""MariaDB / MySQL introspection: information_schema, one query per kind of object."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pymysql

from datamigration.db import model as m
from datamigration.db.contracts import TableSize
from datamigration.db.mysql.connection import MySQLConnection, qualified, quote_name
from datamigration.errors import DatabaseError, UserInputError

Q_TABLES = """
SELECT TABLE_NAME, TABLE_TYPE, TABLE_ROWS, DATA_LENGTH, INDEX_LENGTH, TABLE_COMMENT
FROM information_schema.TABLES
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE IN ('BASE TABLE', 'SEQUENCE')
ORDER BY TABLE_NAME
"""

Q_COLUMNS = """
SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_DEFAULT, IS_NULLABLE, DATA_TYPE,
       CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION,
       COLUMN_TYPE, EXTRA, GENERATION_EXPRESSION, COLLATION_NAME, COLUMN_COMMENT
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE()
ORDER BY TABLE_NAME, ORDINAL_POSITION
"""

Q_INDEXES = """
SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, INDEX_TYPE, SUB_PART
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE()
ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX
"""

Q_KEYS = """
SELECT tc.TABLE_NAME, tc.CONSTRAINT_NAME, tc.CONSTRAINT_TYPE, k.COLUMN_NAME,
       k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME,
       rc.UPDATE_RULE, rc.DELETE_RULE
FROM information_schema.TABLE_CONSTRAINTS tc
JOIN information_schema.KEY_COLUMN_USAGE k
  ON k.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND k.CONSTRAINT_NAME = tc.CONSTRAINT_NAME
 AND k.TABLE_NAME = tc.TABLE_NAME
LEFT JOIN information_schema.REFERENTIAL_CONSTRAINTS rc
  ON rc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND rc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME
 AND rc.TABLE_NAME = tc.TABLE_NAME
WHERE tc.TABLE_SCHEMA = DATABASE() AND tc.CONSTRAINT_TYPE IN ('PRIMARY KEY', 'UNIQUE',
      'FOREIGN KEY')
ORDER BY tc.TABLE_NAME, tc.CONSTRAINT_NAME, k.ORDINAL_POSITION
"""

Q_CHECKS_MARIADB = """
SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA = DATABASE() ORDER BY TABLE_NAME, CONSTRAINT_NAME
"""

Q_CHECKS_MYSQL = """
SELECT tc.TABLE_NAME, cc.CONSTRAINT_NAME, cc.CHECK_CLAUSE
FROM information_schema.CHECK_CONSTRAINTS cc
JOIN information_schema.TABLE_CONSTRAINTS tc
  ON tc.CONSTRAINT_SCHEMA = cc.CONSTRAINT_SCHEMA AND tc.CONSTRAINT_NAME = cc.CONSTRAINT_NAME
 AND tc.CONSTRAINT_TYPE = 'CHECK'
WHERE cc.CONSTRAINT_SCHEMA = DATABASE() ORDER BY tc.TABLE_NAME, cc.CONSTRAINT_NAME
"""

Q_TRIGGERS = """
SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORIENTATION,
       ACTION_STATEMENT
FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()
ORDER BY EVENT_OBJECT_TABLE, TRIGGER_NAME
"""


def _enum_values(column_type: str) -> tuple[str, ...] | None:
    found = re.match(r"\s*(enum|set)\((.*)\)\s*$", column_type, re.IGNORECASE | re.DOTALL)
    if not found:
        return None
    return tuple(v.replace("''", "'") for v in re.findall(r"'((?:[^']|'')*)'", found.group(2)))


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


class MySQLIntrospection(MySQLConnection):
    """`inspect`, `exact_count` and `table_sizes` of the MariaDB/MySQL backend."""

    # --- introspection -------------------------------------------------------------------

    def inspect(
        self, *, tables: Sequence[str] | None = None, exact_counts: bool = False
    ) -> m.Schema:
        if not self.url.database:
            raise UserInputError(
                f"{self.label} names no database to inspect",
                hint="Add the database to the URL: mysql://user@host:3306/DBNAME",
            )
        start_count = self.counter.count
        error: DatabaseError | None = None
        try:
            with self.conn.cursor() as cur:
                result = self._read_catalog(cur, tables, exact_counts)
        except pymysql.MySQLError as exc:
            error = self._fail(exc, "inspect")
        if error is not None:
            raise error
        tables_out, sequences = result
        return m.Schema(
            dialect="mysql",
            database=self.url.database,
            tables=tables_out,
            sequences=sequences,
            server_version=self.version,
            query_count=self.counter.count - start_count,
        )

    def _read_catalog(self, cur, names, exact_counts):
        wanted = {n.rpartition(".")[2] for n in names} if names else None
        table_rows = self._q(cur, Q_TABLES)
        sequences = tuple(
            m.Sequence(name=r[0], schema=self.url.database)
            for r in table_rows
            if r[1] == "SEQUENCE"
        )
        info = {
            r[0]: {
                "row": r,
                "cols": [],
                "idx": {},
                "pk": None,
                "uniques": {},
                "fks": {},
                "checks": [],
                "triggers": [],
            }
            for r in table_rows
            if r[1] == "BASE TABLE" and (wanted is None or r[0] in wanted)
        }
        for r in self._q(cur, Q_COLUMNS):
            if r[0] in info:
                info[r[0]]["cols"].append(self._column(r))
        for tbl, iname, non_unique, _seq, col, itype, sub in self._q(cur, Q_INDEXES):
            if tbl in info:
                entry = info[tbl]["idx"].setdefault(
                    iname, {"unique": not non_unique, "method": (itype or "").lower(), "cols": []}
                )
                entry["cols"].append(f"{col}({sub})" if sub else col)
        for row in self._q(cur, Q_KEYS):
            if row[0] in info:
                _add_key(info[row[0]], row)
        for tbl, cname, clause in self._q(
            cur, Q_CHECKS_MARIADB if self.is_mariadb else Q_CHECKS_MYSQL
        ):
            if tbl in info:
                info[tbl]["checks"].append(m.CheckConstraint(name=cname, expression=clause))
        for tbl, tname, timing, event, level, body in self._q(cur, Q_TRIGGERS):
            if tbl in info:
                info[tbl]["triggers"].append(
                    m.Trigger(
                        name=tname, timing=timing, events=(event,), level=level, definition=body
                    )
                )
        counts: dict[str, int] = {}
        if exact_counts and info:
            union = " UNION ALL ".join(
                f"SELECT {_literal(t)}, COUNT(*) FROM {quote_name(t)}" for t in info
            )
            counts = {r[0]: int(r[1]) for r in self._q(cur, union)}
        out = tuple(
            _table(name, t, self.url.database, counts.get(name)) for name, t in info.items()
        )
        return out, sequences

    def _column(self, r: tuple) -> m.Column:
        (
            _tbl,
            name,
            pos,
            default,
            nullable,
            dtype,
            char_len,
            num_prec,
            num_scale,
            dt_prec,
            ctype,
            extra,
            gen_expr,
            collation,
            comment,
        ) = r
        extra = (extra or "").lower()
        dtype = (dtype or "").lower()
        generated = gen_expr if gen_expr and "generated" in extra else None
        if default == "NULL" or generated:
            default = None  # MariaDB spells "no default" as the text NULL
        length = precision = scale = None
        if dtype in ("char", "varchar", "binary", "varbinary", "bit"):
            length = int(char_len) if char_len is not None else None
            if dtype == "bit":
                length = int(num_prec) if num_prec is not None else None
        elif dtype in ("decimal", "numeric"):
            precision, scale = num_prec, num_scale
        elif dtype in ("datetime", "timestamp", "time"):
            precision = dt_prec
        return m.Column(
            name=name,
            data_type=ctype,
            type_name=dtype,
            nullable=nullable == "YES",
            default=default,
            length=length,
            precision=precision,
            scale=scale,
            identity=m.IDENTITY_AUTO_INCREMENT if "auto_increment" in extra else None,
            generated=generated,
            generated_stored=("stored" in extra or "persistent" in extra) if generated else None,
            enum_values=_enum_values(ctype) if dtype in ("enum", "set") else None,
            collation=collation,
            ordinal=int(pos),
            comment=comment or None,
        )

    def exact_count(self, table: str) -> int:
        sql = f"SELECT COUNT(*) FROM {qualified(table)}"
        return int(self._guard(f"count rows of {table}", lambda: self._rows(sql))[0][0])

    def table_sizes(self) -> dict[str, TableSize]:
        rows = self._guard("read table sizes", lambda: self._rows(Q_TABLES))
        return {
            r[0]: TableSize(r[0], r[2], r[3], r[4], (r[3] or 0) + (r[4] or 0))
            for r in rows
            if r[1] == "BASE TABLE"
        }


def _add_key(t: dict[str, Any], row: tuple) -> None:
    """One row of Q_KEYS (one column of a key) into its table's primary key, unique or FK."""
    _tbl, cname, ctype, col, rschema, rtable, rcol, upd, dele = row
    if ctype == "PRIMARY KEY":
        cols = (t["pk"].columns if t["pk"] else ()) + (col,)
        t["pk"] = m.PrimaryKey(name=cname, columns=cols)
    elif ctype == "UNIQUE":
        t["uniques"].setdefault(cname, []).append(col)
    else:
        fk = t["fks"].setdefault(
            cname,
            {"cols": [], "ref": [], "rtable": rtable, "rschema": rschema, "upd": upd, "del": dele},
        )
        fk["cols"].append(col)
        fk["ref"].append(rcol)


def _table(name: str, t: dict[str, Any], database: str | None, exact: int | None) -> m.Table:
    r = t["row"]
    return m.Table(
        name=name,
        schema=database,
        columns=tuple(t["cols"]),
        primary_key=t["pk"],
        uniques=tuple(
            m.UniqueConstraint(name=n, columns=tuple(c)) for n, c in sorted(t["uniques"].items())
        ),
        foreign_keys=tuple(
            m.ForeignKey(
                name=n,
                columns=tuple(f["cols"]),
                ref_table=f["rtable"],
                ref_schema=f["rschema"],
                ref_columns=tuple(f["ref"]),
                on_update=f["upd"] or "NO ACTION",
                on_delete=f["del"] or "NO ACTION",
            )
            for n, f in sorted(t["fks"].items())
        ),
        indexes=tuple(
            m.Index(
                name=n,
                columns=tuple(e["cols"]),
                unique=e["unique"],
                method=e["method"],
                primary=n == "PRIMARY",
                constraint=n if n == "PRIMARY" or n in t["uniques"] else None,
            )
            for n, e in sorted(t["idx"].items())
        ),
        checks=tuple(t["checks"]),
        triggers=tuple(t["triggers"]),
        row_estimate=int(r[2]) if r[2] is not None else None,
        exact_count=exact,
        size_bytes=r[3],
        index_bytes=r[4],
        total_bytes=(r[3] or 0) + (r[4] or 0),
        comment=r[5] or None,
    )
