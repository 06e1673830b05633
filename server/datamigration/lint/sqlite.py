"""SQLite checker: the ALTERs SQLite cannot do in place, and the breaking ones it can.

SQLite's ALTER TABLE renames a table or column, adds a column (not NOT NULL without a default,
not PRIMARY KEY/UNIQUE, only a constant default) and, since 3.35, drops a column. Everything
else (type, constraint or nullability changes) needs the documented 12-step table rebuild, which
holds the database write lock for the whole copy.
"""

from __future__ import annotations

import re

from datamigration.lint.base import Emitter, linter_for
from datamigration.lint.glot import normalize, parse, quote_sqlite
from datamigration.lint.model import Finding, LintOptions, Statement

_ALTER = re.compile(r"^ALTER TABLE ([`\"\[\]\w.$]+) (.*)$")
_CREATE_TABLE = re.compile(
    r"^CREATE (?:TEMP |TEMPORARY )?TABLE (?:IF NOT EXISTS )?([`\"\[\]\w.$]+)"
)
_DROP_TABLE = re.compile(r"^DROP TABLE (?:IF EXISTS )?([`\"\[\]\w.$]+)")
_RENAME_TO = re.compile(r"^RENAME TO ([`\"\[\]\w.$]+)$")
_RENAME_COL = re.compile(r"^RENAME (?:COLUMN )?([`\"\[\]\w$]+) TO ([`\"\[\]\w$]+)$")
_ADD_COL = re.compile(
    r"^ADD (?:COLUMN )?(?!(?:CONSTRAINT|PRIMARY|UNIQUE|FOREIGN|CHECK)\b)"
    r"([`\"\[\]\w$]+)(.*)$"
)
_DROP_COL = re.compile(r"^DROP (?:COLUMN )?([`\"\[\]\w$]+)$")
_CONSTANT_DEFAULT = re.compile(r"\bDEFAULT (?:''|-?[\d.]+|NULL|TRUE|FALSE|X'')(?:\s|$)")


def _unq(name: str) -> str:
    return name.strip('`"[]').split(".")[-1].lower()


def rebuild_steps(table: str, change: str) -> str:
    t = quote_sqlite(table)
    new = quote_sqlite(f"{table}_new")
    return "\n".join(
        [
            f"-- SQLite cannot {change} in place: rebuild {table} (sqlite.org/lang_altertable.html)",
            "PRAGMA foreign_keys = OFF;",
            "BEGIN;",
            f"CREATE TABLE {new} (/* {table}'s columns and constraints with the change applied */);",
            f"INSERT INTO {new} (/* columns */) SELECT /* columns */ FROM {t};",
            f"DROP TABLE {t};",
            f"ALTER TABLE {new} RENAME TO {t};",
            (
                f"-- recreate the indexes, triggers and views of {table}: "
                f"SELECT sql FROM sqlite_schema WHERE tbl_name = '{table}';"
            ),
            "PRAGMA foreign_key_check;",
            "COMMIT;",
            "PRAGMA foreign_keys = ON;",
        ]
    )


class SqliteChecker(Emitter):
    def check(self, statements: list[Statement]) -> list[Finding]:
        for stmt in statements:
            _, error = parse(stmt.text, "sqlite")
            if error is not None:
                self.emit("parse-error", stmt, f"cannot parse statement (SQLite): {error}")
                continue
            self.statement(stmt, normalize(stmt.text))
        return self.findings

    def statement(self, stmt: Statement, norm: str) -> None:
        if m := _CREATE_TABLE.search(norm):
            self.created_table(_unq(m.group(1)))
            return
        if m := _DROP_TABLE.search(norm):
            t = _unq(m.group(1))
            if not self.is_new(t):
                self.emit(
                    "sqlite-drop-table",
                    stmt,
                    f"DROP TABLE {t}: clients that still use it fail and the data is gone.",
                    "-- remove every use, deploy, back up "
                    f"(.backup), then later:\nDROP TABLE IF EXISTS {quote_sqlite(t)};",
                    table=t,
                )
            return
        m = _ALTER.search(norm)
        if not m:
            return
        table, action = _unq(m.group(1)), m.group(2).strip()
        if self.is_new(table):
            return
        version = self.options.sqlite_version
        if rm := _RENAME_TO.match(action):
            self.emit(
                "sqlite-rename-table",
                stmt,
                f"renaming {table} breaks running clients.",
                f"ALTER TABLE {quote_sqlite(table)} RENAME TO {quote_sqlite(_unq(rm.group(1)))};\n"
                f"CREATE VIEW {quote_sqlite(table)} AS SELECT * FROM "
                f"{quote_sqlite(_unq(rm.group(1)))};  -- until every client moved",
                table=table,
            )
        elif rm := _RENAME_COL.match(action):
            old, new = _unq(rm.group(1)), _unq(rm.group(2))
            if version < (3, 25):
                self._rebuild(stmt, table, "rename a column before 3.25")
            self.emit(
                "sqlite-rename-column",
                stmt,
                f"renaming {table}.{old} to {new} breaks running clients.",
                f"ALTER TABLE {quote_sqlite(table)} ADD COLUMN "
                f"{quote_sqlite(new)} /* type of {old} */;\n-- write both, backfill, switch "
                f"reads, then: ALTER TABLE {quote_sqlite(table)} DROP COLUMN "
                f"{quote_sqlite(old)};",
                table=table,
            )
        elif rm := _DROP_COL.match(action):
            col = _unq(rm.group(1))
            if version < (3, 35):
                self._rebuild(stmt, table, "drop a column before 3.35")
            self.emit(
                "sqlite-drop-column",
                stmt,
                f"DROP COLUMN {table}.{col}: clients that still "
                "use it fail; SQLite rewrites the table and refuses if the column is "
                "indexed, a key, or used by a view/trigger.",
                "-- stop using it, deploy, back "
                f"up, then later:\nALTER TABLE {quote_sqlite(table)} DROP COLUMN "
                f"{quote_sqlite(col)};",
                table=table,
            )
        elif rm := _ADD_COL.match(action):
            rest = rm.group(2)
            problem = ""
            if " PRIMARY KEY" in rest or " UNIQUE" in rest:
                problem = "add a PRIMARY KEY or UNIQUE column"
            elif " NOT NULL" in rest and " DEFAULT " not in rest:
                problem = "add a NOT NULL column without a default"
            elif " DEFAULT " in rest and not _CONSTANT_DEFAULT.search(rest):
                problem = "add a column whose default is not a constant"
            elif " GENERATED " in rest and " STORED" in rest:
                problem = "add a STORED generated column"
            if problem:
                self._rebuild(stmt, table, problem)
        else:
            verb = " ".join(action.split()[:3])
            self._rebuild(stmt, table, f"{verb.lower()}")

    def _rebuild(self, stmt: Statement, table: str, change: str) -> None:
        self.emit(
            "sqlite-alter-needs-rebuild",
            stmt,
            f"SQLite cannot {change} in place on "
            f"{table}: the statement fails; the table must be rebuilt.",
            rebuild_steps(table, change),
            table=table,
        )


@linter_for("sqlite")
def lint_sqlite(statements: list[Statement], file: str, options: LintOptions) -> list[Finding]:
    return SqliteChecker(file, options).check(statements)
