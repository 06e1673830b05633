"""The tables' columns as they are after each step, and the rules that name a column not there.

Why: a step's validation rules run right after it, the executor's gate before a step re-runs
the rules of the nearest earlier step that has any, and the post-migration rules run on the
final schema. A rule that names a column the step just renamed or dropped cannot run (the
type swap's rule naming the shadow column did exactly that), so the planner checks every plan:
it follows the columns through the statements the plan itself generated (ADD / DROP / RENAME
COLUMN, CREATE / DROP / RENAME TABLE, CREATE VIEW ... AS SELECT * FROM) and lists each rule
that names a missing column. Statements it does not recognise (raw SQL) leave the columns as
they were, so it can miss a problem there but never invents one about generated SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from datamigration.db.model import Schema
from datamigration.lint.split import split_statements
from datamigration.plan.model import Step

Columns = dict[str, list[str]]

_ID = r'(?:"(?:[^"]|"")+"|`(?:[^`]|``)+`|[A-Za-z_][\w$]*)'
_ALTER = re.compile(
    rf"^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?({_ID})\s+(.*)$", re.IGNORECASE | re.DOTALL
)
_ADD = re.compile(rf"\bADD\s+COLUMN\s+(?:IF\s+NOT\s+EXISTS\s+)?({_ID})", re.IGNORECASE)
_DROP = re.compile(rf"\bDROP\s+COLUMN\s+(?:IF\s+EXISTS\s+)?({_ID})", re.IGNORECASE)
_RENAME_COL = re.compile(rf"\bRENAME\s+COLUMN\s+({_ID})\s+TO\s+({_ID})", re.IGNORECASE)
_RENAME_TO = re.compile(rf"^RENAME\s+TO\s+({_ID})", re.IGNORECASE)
_RENAME_TABLE = re.compile(rf"^\s*RENAME\s+TABLE\s+({_ID})\s+TO\s+({_ID})", re.IGNORECASE)
_RENAME_PAIR = re.compile(rf"({_ID})\s+TO\s+({_ID})", re.IGNORECASE)
_LIKE = re.compile(
    rf"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?({_ID})\s+LIKE\s+({_ID})\s*$", re.IGNORECASE
)
_CREATE = re.compile(
    rf"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?({_ID})\s*\((.*)\)"
    r"(?:\s|,|WITHOUT\s+ROWID|STRICT)*$",
    re.IGNORECASE | re.DOTALL,
)
_VIEW = re.compile(
    rf"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?({_ID})\s+AS\s+"
    rf"SELECT\s+\*\s+FROM\s+({_ID})\s*$",
    re.IGNORECASE,
)
_DROP_TABLE = re.compile(rf"^\s*DROP\s+(?:TABLE|VIEW)\s+(?:IF\s+EXISTS\s+)?({_ID})", re.IGNORECASE)
#: comments inside a CREATE TABLE as SQLite keeps it (the text as the user wrote it)
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_CONSTRAINT_WORDS = {"primary", "foreign", "unique", "check", "constraint", "exclude"}
_WORD = re.compile(r"[A-Za-z_][\w$]*")


def _name(token: str) -> str:
    if token[:1] in ('"', "`"):
        return token[1:-1].replace(token[0] * 2, token[0])
    return token


def initial(schema: Schema) -> Columns:
    return {t.name: list(t.column_names) for t in schema.tables}


def apply(columns: Mapping[str, Sequence[str]], statements: Iterable[str]) -> Columns:
    """The columns after `statements` ran, for the statement forms the planner generates."""
    out: Columns = {t: list(c) for t, c in columns.items()}
    for stmt in statements:
        if m := _ALTER.match(stmt):
            table, rest = _name(m.group(1)), m.group(2)
            if r := _RENAME_TO.match(rest.strip()):
                out[_name(r.group(1))] = out.pop(table, [])
                continue
            cols = out.setdefault(table, [])
            # clauses in order: MySQL renames two columns in one statement
            events = [(x.start(), "add", x) for x in _ADD.finditer(rest)]
            events += [(x.start(), "drop", x) for x in _DROP.finditer(rest)]
            events += [(x.start(), "rename", x) for x in _RENAME_COL.finditer(rest)]
            for _, what, x in sorted(events, key=lambda e: e[0]):
                if what == "add" and _name(x.group(1)) not in cols:
                    cols.append(_name(x.group(1)))
                elif what == "drop" and _name(x.group(1)) in cols:
                    cols.remove(_name(x.group(1)))
                elif what == "rename" and _name(x.group(1)) in cols:
                    cols[cols.index(_name(x.group(1)))] = _name(x.group(2))
        elif _RENAME_TABLE.match(stmt):
            # MySQL renames several tables in one statement, pair by pair (a rotation too)
            for pair in _RENAME_PAIR.finditer(stmt.split(None, 2)[2]):
                out[_name(pair.group(2))] = out.pop(_name(pair.group(1)), [])
        elif m := _LIKE.match(stmt):
            out[_name(m.group(1))] = list(out.get(_name(m.group(2)), []))
        elif m := _CREATE.match(stmt):
            cols = []
            for part in _split_top(_COMMENT.sub(" ", m.group(2))):
                first = part.strip().split(None, 1)
                if first and first[0].lower() not in _CONSTRAINT_WORDS:
                    cols.append(_name(first[0]))
            out[_name(m.group(1))] = cols
        elif m := _VIEW.match(stmt):
            out[_name(m.group(1))] = list(out.get(_name(m.group(2)), []))
        elif m := _DROP_TABLE.match(stmt):
            out.pop(_name(m.group(1)), None)
    return out


def _split_top(text: str) -> list[str]:
    """Split a column list on commas outside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def step_sql(step: Step) -> list[str]:
    return [
        x for op in step.operations if op.kind == "sql" for s in op.statements for x in _parts(s)
    ]


def _parts(statement: str) -> list[str]:
    """The statements of a script sent as one (SQLite's table swap: PRAGMAs around BEGIN ...
    COMMIT, so foreign keys can be off for it), else the statement itself."""
    if statement.lstrip()[:6].upper() not in ("PRAGMA", "BEGIN "):
        return [statement]

    return [x.text.strip().rstrip(";") for x in split_statements(statement, "sqlite")[0]]


def named_columns(rule: Mapping[str, Any], known: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """table -> column names `rule` refers to. Words of a SQL `filter` count when they are (or
    at some point of the plan were) columns of the table, so keywords never do."""
    out: dict[str, set[str]] = {}
    table, target = rule.get("table"), rule.get("target_table") or rule.get("table")
    if not table:
        return out
    mine = out.setdefault(str(table), set())
    mine.update(rule.get("columns") or [])
    mine.update(rule.get("key") or [])
    for name in ("column", "lag_column"):
        if rule.get(name):
            mine.add(rule[name])
    fmap = rule.get("field_map") or {}
    mine.update(fmap.keys())
    if rule.get("target_table") and rule.get("type") == "checksum_diff":
        # the diff names the target's columns (and key) through field_map, else the same names
        compared = [*(rule.get("columns") or []), *(rule.get("key") or [])]
        out.setdefault(str(target), set()).update(fmap.get(c, c) for c in compared)
    elif fmap:
        out.setdefault(str(target), set()).update(fmap.values())
    if isinstance(rule.get("filter"), str):
        words = set(_WORD.findall(rule["filter"]))
        mine.update(words & known.get(str(table), set()))
    if rule.get("ref_table") and rule.get("ref_columns"):
        out.setdefault(str(rule["ref_table"]), set()).update(rule["ref_columns"])
    return out


def missing(rule: Mapping[str, Any], columns: Columns, known: Mapping[str, set[str]]) -> list[str]:
    """`table.column` names the rule refers to that do not exist in `columns`."""
    gone: list[str] = []
    for table in (rule.get("table"), rule.get("target_table"), rule.get("ref_table")):
        if table and table not in columns and table in known:
            gone.append(str(table))
    for table, names in named_columns(rule, known).items():
        if table not in columns:
            continue
        gone += [f"{table}.{n}" for n in sorted(names) if n not in columns[table]]
    return gone


def shapes(schema: Schema, steps: Sequence[Step]) -> list[Columns]:
    """The columns before the first step, then after each step (len(steps) + 1 entries)."""
    out = [initial(schema)]
    for s in steps:
        out.append(apply(out[-1], step_sql(s)))
    return out


def known_columns(history: Sequence[Columns]) -> dict[str, set[str]]:
    known: dict[str, set[str]] = {}
    for cols in history:
        for t, names in cols.items():
            known.setdefault(t, set()).update(names)
    return known


def problems(schema: Schema, steps: Sequence[Step], post: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every rule that would name a column that is not there when it runs:

    - a step's own rules, against the columns right after the step;
    - the rules a gated step (validation_passed, or destructive) is checked with — those of
      the nearest earlier step that has any, else the post-migration rules — against the
      columns right before it;
    - the post-migration rules against the final columns.
    """
    history = shapes(schema, steps)
    known = known_columns(history)
    out: list[str] = []

    def check(rules: Iterable[Mapping[str, Any]], cols: Columns, where: str) -> None:
        for r in rules:
            gone = missing(r, cols, known)
            if gone:
                rid = r.get("id") or r.get("type")
                out.append(f"{where}: rule {rid} names {', '.join(gone)}, which does not exist")

    for i, s in enumerate(steps):
        check(s.validation, history[i + 1], f"step {s.id or i + 1} ({s.title}), after it")
        if "validation_passed" in s.gates or s.destructive:
            earlier = next((p.validation for p in reversed(steps[:i]) if p.validation), None)
            check(earlier or post, history[i], f"the gate before step {s.id or i + 1}")
    if post:
        check(post, history[-1], "post-migration validation")
    else:  # the executor then validates the end with the last step's rules
        last = next((s.validation for s in reversed(steps) if s.validation), ())
        check(last, history[-1], "final validation (no post-migration rules)")
    return out


def final_columns(schema: Schema, steps: Sequence[Step]) -> Columns:
    return shapes(schema, steps)[-1]
