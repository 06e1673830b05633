"""MySQL / MariaDB checker: ALTERs that copy the table, ALGORITHM/LOCK clauses, lock_wait_timeout.

InnoDB online DDL picks INSTANT, INPLACE or COPY per operation; without an explicit ALGORITHM
the server silently falls back to COPY, which blocks writes for the whole copy and makes
replicas lag. The safe habit is to state ALGORITHM and LOCK (the server then refuses instead of
copying) and to use gh-ost / pt-online-schema-change when a copy is unavoidable.
"""

from __future__ import annotations

import re

from sqlglot import exp

from datamigration.lint.base import Emitter, linter_for
from datamigration.lint.glot import normalize, parse, quote_mysql, table_name
from datamigration.lint.model import Finding, LintOptions, Statement

_ALTER_TABLE = re.compile(r"^ALTER (?:ONLINE |IGNORE )?TABLE (?:IF EXISTS )?([`\"\w.$]+)")
_CREATE_INDEX = re.compile(
    r"^CREATE (?:ONLINE |OFFLINE )?(?:UNIQUE |FULLTEXT |SPATIAL )?INDEX "
    r"(?:IF NOT EXISTS )?[`\"\w$]+ (?:USING \w+ )?ON ([`\"\w.$]+)"
)
_DROP_INDEX = re.compile(r"^DROP INDEX (?:IF EXISTS )?[`\"\w$]+ ON ([`\"\w.$]+)")
_CREATE_TABLE = re.compile(r"^CREATE (?:TEMPORARY )?TABLE (?:IF NOT EXISTS )?([`\"\w.$]+)")
_DROP_TABLE = re.compile(r"^DROP (?:TEMPORARY )?TABLE (?:IF EXISTS )?([`\"\w.$, ]+)")
_RENAME_TABLE = re.compile(r"^RENAME TABLES? ([`\"\w.$]+) TO ([`\"\w.$]+)")
_ALGORITHM = re.compile(r"\bALGORITHM ?=? ?(\w+)")
_LOCK = re.compile(r"\bLOCK ?=? ?(\w+)")
_LOCK_WAIT = re.compile(r"^SET (?:SESSION |@@SESSION\.|@@)?(?:LOCK_WAIT_TIMEOUT)\b")
_FK_CHECKS_OFF = re.compile(r"^SET (?:SESSION |@@SESSION\.|@@)?FOREIGN_KEY_CHECKS ?= ?(?:0|OFF)")
#: Operations InnoDB can only do by copying the table (ALGORITHM=COPY).
_COPY_OPS = [
    (
        re.compile(r"\bMODIFY\b|\bCHANGE (?!DEFAULT)"),
        (
            "changing a column definition (MODIFY/CHANGE) "
            "copies the table unless it only renames or extends a VARCHAR within the same length byte"
        ),
    ),
    (
        re.compile(r"\bDROP PRIMARY KEY\b|\bADD (?:CONSTRAINT [`\w$]+ )?PRIMARY KEY\b"),
        "changing the primary key rebuilds the clustered index",
    ),
    (
        re.compile(r"\bCONVERT TO CHARACTER SET\b|\bCHARACTER SET\b|\bCHARSET\b"),
        "converting the character set rewrites every row",
    ),
    (re.compile(r"\bENGINE ?="), "changing the engine copies the table"),
    (re.compile(r"(?:^|, ?)FORCE\b"), "FORCE rebuilds the table"),
]
_FK = re.compile(r"\bADD (?:CONSTRAINT [`\w$]+ )?FOREIGN KEY\b")
_POSITION = re.compile(r"\bADD (?:COLUMN )?.*\b(?:FIRST|AFTER [`\w$]+)")
_RENAME_COLUMN = re.compile(r"\bRENAME COLUMN ([`\w$]+) TO ([`\w$]+)")
_CHANGE = re.compile(r"\bCHANGE (?:COLUMN )?([`\w$]+) ([`\w$]+) ")
_DROP_COLUMN = re.compile(
    r"\bDROP (?:COLUMN )?(?!INDEX|KEY|PRIMARY|FOREIGN|CONSTRAINT|CHECK)"
    r"([`\w$]+)"
)
_RENAME_TO = re.compile(r"\bRENAME (?:TO |AS )?(?!COLUMN|INDEX|KEY)([`\w.$]+)")
_ADD_INDEX = re.compile(r"\bADD (?:UNIQUE |FULLTEXT |SPATIAL )?(?:INDEX|KEY)\b")
_INSTANT_OK = re.compile(
    r"^(?:ADD (?:COLUMN )?|DROP (?:COLUMN )?|RENAME COLUMN |ALTER (?:COLUMN )?"
    r"[`\w$]+ (?:SET|DROP) DEFAULT)"
)


def _unq(name: str) -> str:
    return name.strip('`"').split(".")[-1].lower()


class MySqlChecker(Emitter):
    def __init__(self, file: str, options: LintOptions) -> None:
        super().__init__(file, options)
        self.lock_wait = False
        self.fk_checks_off = False
        self.warned_lock_wait = False

    def check(self, statements: list[Statement]) -> list[Finding]:
        for stmt in statements:
            tree, error = parse(stmt.text, "mysql")
            if error is not None:
                self.emit("parse-error", stmt, f"cannot parse statement (MySQL): {error}")
                continue
            norm = normalize(stmt.text)
            if isinstance(tree, exp.Command) and (problem := _opaque_problem(norm)):
                self.emit("parse-error", stmt, f"cannot parse statement (MySQL): {problem}")
                continue
            self.statement(stmt, tree, norm)
        return self.findings

    def statement(self, stmt: Statement, tree: object, norm: str) -> None:
        if _LOCK_WAIT.search(norm):
            self.lock_wait = True
            return
        if _FK_CHECKS_OFF.search(norm):
            self.fk_checks_off = True
            return
        if m := _CREATE_TABLE.search(norm):
            self.created_table(_unq(m.group(1)))
            return
        if m := _DROP_TABLE.search(norm):
            for name in m.group(1).split(","):
                t = _unq(name.strip())
                if t and not self.is_new(t):
                    self.emit(
                        "mysql-drop-table",
                        stmt,
                        f"DROP TABLE {t}: clients that still use it fail and the data is gone.",
                        "-- remove every use, deploy, back "
                        f"up, then later:\nDROP TABLE IF EXISTS {quote_mysql(t)};",
                        table=t,
                    )
            return
        if m := _RENAME_TABLE.search(norm):
            t = _unq(m.group(1))
            if not self.is_new(t):
                self.emit(
                    "mysql-rename-table",
                    stmt,
                    f"RENAME TABLE {t}: running clients still use the old name.",
                    f"-- move clients first, or: RENAME TABLE "
                    f"{quote_mysql(t)} TO {quote_mysql(_unq(m.group(2)))}; CREATE VIEW "
                    f"{quote_mysql(t)} AS SELECT * FROM {quote_mysql(_unq(m.group(2)))};",
                    table=t,
                )
                self._ddl(stmt, t)
            return
        for pattern, kind in (
            (_ALTER_TABLE, "alter"),
            (_CREATE_INDEX, "index"),
            (_DROP_INDEX, "index"),
        ):
            if m := pattern.search(norm):
                t = _unq(table_name(None, norm, pattern) or m.group(1))
                if not self.is_new(t):
                    self._online_ddl(stmt, norm, t, kind)
                return

    def _ddl(self, stmt: Statement, table: str) -> None:
        if not self.lock_wait and not self.warned_lock_wait:
            self.warned_lock_wait = True
            self.emit(
                "mysql-missing-lock-wait-timeout",
                stmt,
                f"DDL on {table} with no "
                "lock_wait_timeout set earlier: the default waits up to a year for the "
                "metadata lock while every later query queues.",
                "SET SESSION lock_wait_timeout = 5;  -- retry with backoff on error 1205\n"
                + stmt.text.rstrip(";")
                + ";",
                table=table,
            )

    def _online_ddl(self, stmt: Statement, norm: str, table: str, kind: str) -> None:
        self._ddl(stmt, table)
        body = norm.split(" ", 3)[3] if kind == "alter" and norm.count(" ") >= 3 else norm
        algo = (m.group(1) if (m := _ALGORITHM.search(norm)) else "").upper()
        lock = (m.group(1) if (m := _LOCK.search(norm)) else "").upper()
        if kind == "alter":
            self._breaking(stmt, body, table)
        if algo == "COPY" or lock in ("SHARED", "EXCLUSIVE"):
            self.emit(
                "mysql-algorithm-copy",
                stmt,
                f"{'ALGORITHM=COPY' if algo == 'COPY' else 'LOCK=' + lock} "
                f"on {table} asks for the blocking path.",
                _osc(stmt.text, table),
                table=table,
            )
            return
        copy_reasons = [
            why for pattern, why in _COPY_OPS if kind == "alter" and pattern.search(body)
        ]
        if kind == "alter" and _FK.search(body) and not self.fk_checks_off:
            copy_reasons.append("adding a foreign key with foreign_key_checks=1 copies the table")
        if kind == "alter" and _POSITION.search(body) and self.options.mysql_version < (8, 0):
            copy_reasons.append("adding a column FIRST/AFTER copies the table before MySQL 8.0.29")
        if copy_reasons and algo not in ("INSTANT", "INPLACE"):
            self.emit(
                "mysql-alter-copies-table",
                stmt,
                f"ALTER on {table}: {copy_reasons[0]}; writes are blocked for the whole copy.",
                _osc(stmt.text, table),
                table=table,
            )
            return
        if not algo:
            instant = kind == "alter" and all(
                _INSTANT_OK.match(part.strip()) for part in body.split(",")
            )
            clause = "ALGORITHM=INSTANT" if instant else "ALGORITHM=INPLACE, LOCK=NONE"
            sep = ", " if kind == "alter" else " "
            self.emit(
                "mysql-alter-without-algorithm",
                stmt,
                f"{'ALTER' if kind == 'alter' else 'index change'} "
                f"on {table} without ALGORITHM/LOCK: the server may silently fall back to a "
                "blocking table copy.",
                f"{stmt.text.rstrip().rstrip(';')}{sep}{clause.replace(', ', sep)};",
                table=table,
            )

    def _breaking(self, stmt: Statement, body: str, table: str) -> None:
        if m := _RENAME_COLUMN.search(body):
            self._rename_col(stmt, table, m.group(1), m.group(2))
        for m in _CHANGE.finditer(body):
            if _unq(m.group(1)) != _unq(m.group(2)):
                self._rename_col(stmt, table, m.group(1), m.group(2))
        for m in _DROP_COLUMN.finditer(body):
            col = _unq(m.group(1))
            if col in ("default",):
                continue
            self.emit(
                "mysql-drop-column",
                stmt,
                f"DROP COLUMN {table}.{col}: clients that still use it fail and the data is gone.",
                "-- stop using the column, deploy, back "
                f"up, then later:\nALTER TABLE {quote_mysql(table)} DROP COLUMN "
                f"{quote_mysql(col)}, ALGORITHM=INSTANT;",
                table=table,
            )
        if (m := _RENAME_TO.search(body)) and not body.startswith("RENAME COLUMN"):
            self.emit(
                "mysql-rename-table",
                stmt,
                f"renaming {table}: running clients still use the old name.",
                f"-- move clients first, or keep a view named {quote_mysql(table)} until they did",
                table=table,
            )

    def _rename_col(self, stmt: Statement, table: str, old: str, new: str) -> None:
        o, n = _unq(old), _unq(new)
        self.emit(
            "mysql-rename-column",
            stmt,
            f"renaming {table}.{o} to {n} breaks running clients.",
            f"ALTER TABLE {quote_mysql(table)} ADD COLUMN {quote_mysql(n)} "
            f"<type of {o}>, ALGORITHM=INSTANT;\n-- write both columns from the application, "
            f"backfill {n} in batches, switch reads, then:\nALTER TABLE {quote_mysql(table)} "
            f"DROP COLUMN {quote_mysql(o)}, ALGORITHM=INSTANT;",
            table=table,
        )


_KEYWORDS_AS_NAME = {"ADD", "DROP", "MODIFY", "CHANGE", "RENAME", "ALTER", "ALGORITHM", "LOCK"}


def _opaque_problem(norm: str) -> str:
    """Why a statement sqlglot kept as an opaque Command is not valid, or ''."""
    if norm.count("(") != norm.count(")"):
        return "unbalanced parentheses"
    m = _ALTER_TABLE.search(norm)
    if norm.startswith("ALTER TABLE") and (not m or m.group(1) in _KEYWORDS_AS_NAME):
        return "ALTER TABLE without a table name"
    return ""


def _osc(statement: str, table: str) -> str:
    alter = " ".join(re.sub(r"--[^\n]*|/\*.*?\*/", " ", statement, flags=re.DOTALL).split())
    alter = re.sub(
        r"^ALTER\s+(?:ONLINE\s+|IGNORE\s+)?TABLE\s+\S+\s+", "", alter, flags=re.IGNORECASE
    )
    alter = re.sub(r",?\s*(?:ALGORITHM|LOCK)\s*=?\s*\w+", "", alter, flags=re.IGNORECASE).strip(
        " ,;"
    )
    alter = alter.replace('"', '\\"')
    return (
        "-- online schema change: shadow table, chunked copy, binlog sync, throttled, atomic "
        "rename\n"
        f'gh-ost --table={table} --database=<db> --alter="{alter}" --max-lag-millis=1500 '
        "--chunk-size=1000 --execute\n"
        f'-- or: pt-online-schema-change --alter "{alter}" D=<db>,t={table} --execute'
    )


@linter_for("mysql")
def lint_mysql(statements: list[Statement], file: str, options: LintOptions) -> list[Finding]:
    return MySqlChecker(file, options).check(statements)
