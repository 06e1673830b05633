"""Run a rules file: each rule measured on the database it names, with a verdict and evidence.

A rules file (YAML or JSON, checked against `schemas/validation-rules.schema.json`) names a
source and a target database and lists rules. Each rule runs on one side (`on`, the target by
default when there is one) or across both (count_match, cross-database fk_orphans,
schema_fidelity, checksum_diff, sample_compare) and yields a `RuleResult`: passed or failed, the
measured value, the threshold, a message a person can act on, and a few offending keys.

Rules files are read as YAML 1.2 reads booleans (only true/false), so a hand-written
``on: target`` names the side instead of becoming the key `True` as YAML 1.1 would have it.
Every rule names its columns with `columns` (a list); the older ``column: name`` of `range`,
`allowed_values` and `regex` is still read, turned into ``columns: [name]`` with a note.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from datamigration.db.mongodb.segments import MongoReader
from datamigration.db.segments import Reader, open_reader
from datamigration.errors import FileFormatError, UserInputError
from datamigration.safeload import check_depth, load_json, load_yaml
from datamigration.validate import compile as qc
from datamigration.validate.results import RuleResult, ValidationRun

SCHEMA_NAME = "validation-rules"


class RulesLoader(yaml.SafeLoader):
    """Safe YAML with YAML 1.2 booleans: `on`, `off`, `yes` and `no` stay strings."""


RulesLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
RulesLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


# --- loading --------------------------------------------------------------------------------


def load_rules(path: Path) -> dict[str, Any]:
    """Parse and check a rules file; errors carry the path, the line when known, and a hint."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileFormatError(
            f"rules file not found: {path}", hint="Generate one: datamigration rules-from-schema"
        ) from None
    if path.suffix == ".json":
        data = load_json(text, source=path.name, hint="Fix the syntax at the line shown.")
    else:
        data = load_yaml(
            text, source=path.name, hint="Fix the syntax at the line shown.", loader=RulesLoader
        )
    check_rules(data, str(path))
    return data


def check_rules(data: Any, where: str = "rules") -> None:
    from datamigration.coordination.schema_check import first_error

    check_depth(data, source=where, hint="See docs/validation.md for the shape of a rules file.")
    problem = first_error(data, SCHEMA_NAME)
    if problem is not None:
        path, message = problem
        at = "/".join(str(p) for p in path) or "(top)"
        raise FileFormatError(
            f"{where}: {at}: {message}",
            hint="See server/datamigration/schemas/validation-rules.schema.json and "
            "docs/validation.md for the rule types and their fields.",
            path=where,
            problem=message,
        )


def normalise_rules(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`data` with every rule's deprecated ``column: x`` spelled ``columns: [x]``, and a note
    for each such rule telling the user to update the file. The schema already refused a
    rule that gives both."""
    rules, notes = [], []
    for i, rule in enumerate(data.get("rules") or []):
        if isinstance(rule, Mapping) and "column" in rule:
            rule = {k: v for k, v in rule.items() if k != "column"} | {"columns": [rule["column"]]}
            notes.append(
                f"rule {rule.get('id') or i + 1}: `column` is deprecated, write "
                f"`columns: [{rule['columns'][0]}]`"
            )
        rules.append(rule)
    return {**data, "rules": rules}, notes


# --- running --------------------------------------------------------------------------------


class _Sides:
    """Opens each database once per run and remembers primary keys."""

    def __init__(self, urls: Mapping[str, str | None], workspace: Any, gentle: bool) -> None:
        self.urls = urls
        self.workspace = workspace
        self.gentle = gentle
        self.readers: dict[str, Reader] = {}

    def url(self, side: str) -> str:
        url = self.urls.get(side)
        if not url:
            raise UserInputError(
                f"the rules need a {side} database but none is set",
                hint=f"Add `{side}: <URL or connection name>` to the rules file, or pass it "
                f"(--{side} on the CLI, {side}= in the validate tool).",
            )
        return url

    def reader(self, side: str) -> Reader:
        if side not in self.readers:
            self.readers[side] = open_reader(self.url(side), self.workspace, gentle=self.gentle)
        return self.readers[side]

    def key(self, side: str, table: str, rule: Mapping[str, Any]) -> list[str]:
        if rule.get("key"):
            return list(rule["key"])
        r = self.reader(side)
        if isinstance(r, MongoReader):
            return ["_id"]
        return r.primary_key(table) or [r.columns(table)[0][0]]  # type: ignore[attr-defined]

    def close(self) -> None:
        for r in self.readers.values():
            r.close()


def _default_side(rule: Mapping[str, Any], urls: Mapping[str, str | None]) -> str:
    return rule.get("on") or ("target" if urls.get("target") else "source")


def _table_on(rule: Mapping[str, Any], side: str) -> str:
    return rule.get("target_table", rule["table"]) if side == "target" else rule["table"]


def _key_json(row: Sequence[Any]) -> Any:
    from datamigration.db.contracts import jsonable

    return jsonable(row[0]) if len(row) == 1 else [jsonable(v) for v in row]


def _tolerance(rule: Mapping[str, Any], base: int) -> float:
    tol = rule.get("tolerance", 0)
    if isinstance(tol, str):
        text = tol.strip()
        if text.endswith("%"):
            try:
                return base * float(text[:-1]) / 100.0
            except ValueError:
                pass
        raise UserInputError(
            f"tolerance {tol!r} is neither a number nor a percentage", hint="e.g. 10 or '0.5%'"
        )
    return float(tol)


def run_rules(
    data: Mapping[str, Any],
    workspace: Any | None = None,
    *,
    source: str | None = None,
    target: str | None = None,
    name: str | None = None,
    gentle: bool = False,
) -> ValidationRun:
    """Run every rule of `data`. `gentle` when the databases are serving an application right
    now (the executor's gates): one query at a time, no parallel workers, slower but the
    application keeps its cores."""
    import time

    check_rules(dict(data))
    data, notes = normalise_rules(data)
    started = time.perf_counter()
    at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    urls = {"source": source or data.get("source"), "target": target or data.get("target")}
    sides = _Sides(urls, workspace, gentle)
    sample = int(data.get("sample_size", 5))
    results = []
    counts: collections.Counter[str] = collections.Counter()
    try:
        for rule in data["rules"]:
            counts[rule["type"]] += 1
            rid = rule.get("id") or f"{rule['type']}-{rule['table']}-{counts[rule['type']]}"
            results.append(_run_one(rid, rule, sides, sample, workspace))
    finally:
        sides.close()
    from datamigration.redact import redact_url

    return ValidationRun(
        name=name or data.get("name") or "validation",
        results=tuple(results),
        seconds=time.perf_counter() - started,
        source=redact_url(urls["source"]) if urls["source"] else None,
        target=redact_url(urls["target"]) if urls["target"] else None,
        started_at=at,
        notes=tuple(notes),
    )


def _run_one(
    rid: str, rule: Mapping[str, Any], sides: _Sides, sample: int, workspace: Any
) -> RuleResult:
    kind = rule["type"]
    if kind == "count_match":
        return _count_match(rid, rule, sides)
    if kind in ("schema_fidelity",):
        from datamigration.validate.fidelity import schema_fidelity

        problems = schema_fidelity(
            sides.url("source"), rule["table"], sides.url("target"),
            rule.get("target_table", rule["table"]), rule.get("checks"), workspace,
        )  # fmt: skip
        return RuleResult(
            rid, kind, not problems, len(problems), 0,
            "target schema keeps every column, type, NOT NULL, default, key and index"
            if not problems else f"{len(problems)} schema difference(s): {problems[0]}",
            problems[:50], "both", rule["table"],
        )  # fmt: skip
    if kind in ("checksum_diff", "sample_compare"):
        return _diff_rule(rid, rule, sides, sample, workspace)
    side = _default_side(rule, sides.urls)
    if kind == "fk_orphans" and rule.get("ref_on", side) != side:
        return _cross_orphans(rid, rule, sides, side, sample)
    reader = sides.reader(side)
    table = _table_on(rule, side)
    key = sides.key(side, table, rule)
    if isinstance(reader, MongoReader):
        return _mongo_rule(rid, rule, reader, side, table, key, sample)
    return _sql_rule(rid, rule, reader, side, table, key, sample)


def _now_bound(rule: Mapping[str, Any]) -> dt.datetime:
    grace = float(rule.get("grace_seconds", 0))
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=grace)).replace(tzinfo=None)


def _sql_rule(
    rid: str, rule: Mapping[str, Any], reader: Any, side: str, table: str,
    key: list[str], sample: int,
) -> RuleResult:  # fmt: skip
    kind, d = rule["type"], reader.dialect
    where = qc.condition(rule.get("filter") if isinstance(rule.get("filter"), str) else None)
    cols = list(rule.get("columns") or [])
    threshold: Any = rule.get("tolerance", 0)
    try:
        if kind in ("not_null", "required_fields"):
            bad = qc.null_condition(cols)
            what = f"NULL in {', '.join(cols)}"
        elif kind == "no_future_dates":
            bound = _now_bound(rule)
            bad = qc.after_condition(cols, bound)
            what = f"{', '.join(cols)} after now ({bound:%Y-%m-%d %H:%M:%S} UTC)"
        elif kind in ("date_range", "range"):
            bad = qc.outside_condition(cols, rule.get("min"), rule.get("max"))
            what = f"{', '.join(cols)} outside [{rule.get('min')}, {rule.get('max')}]"
        elif kind == "allowed_values":
            bad = qc.not_in_condition(cols[0], rule["values"])
            what = f"{cols[0]} not in the allowed values"
        elif kind == "regex":
            bad = qc.regex_condition(d, cols[0], rule["pattern"])
            what = f"{cols[0]} not matching /{rule['pattern']}/"
        elif kind in ("unique", "duplicates"):
            count_q, rows_q = qc.duplicates_sql(d, table, cols, where, sample)
            n = int(reader.scalar(count_q) or 0)
            groups = [list(r) for r in reader.rows(rows_q)]
            return RuleResult(
                rid, kind, n <= float(threshold), n, threshold,
                f"{n} duplicated value(s) of ({', '.join(cols)}) in {table}",
                [_key_json(g[:-1]) for g in groups], side, table, count_q,
            )  # fmt: skip
        elif kind == "fk_orphans":
            count_q, keys_q = qc.orphans_sql(
                d, table, cols, rule["ref_table"], rule["ref_columns"], where, key, sample
            )
            n = int(reader.scalar(count_q) or 0)
            return RuleResult(
                rid, kind, n <= float(threshold), n, threshold,
                f"{n} row(s) of {table} reference a missing {rule['ref_table']}",
                [_key_json(r) for r in reader.rows(keys_q)], side, table, count_q,
            )  # fmt: skip
        else:  # pragma: no cover - the schema lists the types
            raise UserInputError(f"unknown rule type {kind!r}")
    except qc._ClientSide:
        return _client_rule(rid, rule, reader, side, table, key, sample)
    cond = qc._and(where, bad)
    count_q = qc.count_sql(d, table, cond)
    n = int(reader.scalar(count_q) or 0)
    keys = [_key_json(r) for r in reader.rows(qc.keys_sql(d, table, key, cond, sample))]
    return RuleResult(
        rid, kind, n <= float(threshold), n, threshold, f"{n} row(s) of {table} with {what}",
        keys, side, table, count_q,
    )  # fmt: skip


def _client_rule(
    rid: str, rule: Mapping[str, Any], reader: Any, side: str, table: str,
    key: list[str], sample: int,
) -> RuleResult:  # fmt: skip
    """Rules a dialect cannot express (regex on SQLite), evaluated while streaming."""
    from datamigration.validate.sqlrender import quote_ident, quote_table

    col = rule["columns"][0]
    pattern = re.compile(rule["pattern"])
    q = ", ".join(quote_ident(c, reader.dialect) for c in [*key, col])
    n, keys = 0, []
    for row in reader.stream(f"SELECT {q} FROM {quote_table(table, reader.dialect)}"):
        value = row[-1]
        if value is not None and not pattern.search(str(value)):
            n += 1
            if len(keys) < sample:
                keys.append(_key_json(row[:-1]))
    threshold = rule.get("tolerance", 0)
    return RuleResult(
        rid, rule["type"], n <= float(threshold), n, threshold,
        f"{n} row(s) of {table} with {col} not matching /{rule['pattern']}/ (checked on the "
        "client)", keys, side, table,
    )  # fmt: skip


def _mongo_rule(
    rid: str, rule: Mapping[str, Any], reader: MongoReader, side: str, table: str,
    key: list[str], sample: int,
) -> RuleResult:  # fmt: skip
    kind = rule["type"]
    base = rule.get("filter") if isinstance(rule.get("filter"), dict) else None
    cols = list(rule.get("columns") or [])
    threshold = rule.get("tolerance", 0)
    if kind in ("unique", "duplicates", "regex", "fk_orphans"):
        counter: collections.Counter[tuple] = collections.Counter()
        n, keys = 0, []
        pattern = re.compile(rule["pattern"]) if kind == "regex" else None
        for doc in reader.find(table, base, [*key, *cols]):
            values = tuple(doc.get(c) for c in cols)
            if kind == "regex":
                if values[0] is not None and not pattern.search(str(values[0])):  # type: ignore
                    n += 1
                    if len(keys) < sample:
                        keys.append(_key_json([doc.get(k) for k in key]))
            elif None not in values:
                counter[values] += 1
        if kind == "fk_orphans":
            parents = {
                tuple(d.get(c) for c in rule["ref_columns"])
                for d in reader.find(rule["ref_table"], None, rule["ref_columns"])
            }
            missing = [v for v in counter if v not in parents]
            n = sum(counter[v] for v in missing)
            keys = [_key_json(v) for v in missing[:sample]]
            message = f"{n} document(s) of {table} reference a missing {rule['ref_table']}"
        elif kind == "regex":
            message = f"{n} document(s) of {table} with {cols[0]} not matching the pattern"
        else:
            dups = [v for v, c in counter.items() if c > 1]
            n = len(dups)
            keys = [_key_json(v) for v in dups[:sample]]
            message = f"{n} duplicated value(s) of ({', '.join(cols)}) in {table}"
        return RuleResult(
            rid, kind, n <= float(threshold), n, threshold, message, keys, side, table
        )
    if kind in ("not_null", "required_fields"):
        bad, what = qc.mongo_null(cols), f"null or missing {', '.join(cols)}"
    elif kind == "no_future_dates":
        bound = _now_bound(rule)
        bad, what = qc.mongo_after(cols, bound), f"{', '.join(cols)} after now"
    elif kind in ("range", "date_range"):
        bad = qc.mongo_outside(cols, rule.get("min"), rule.get("max"))
        what = f"{', '.join(cols)} outside [{rule.get('min')}, {rule.get('max')}]"
    elif kind == "allowed_values":
        bad, what = qc.mongo_not_in(cols[0], rule["values"]), f"{cols[0]} not allowed"
    else:  # pragma: no cover
        raise UserInputError(f"unknown rule type {kind!r}")
    flt = qc.mongo_and(base, bad)
    n = reader.count(table, flt)
    keys = [
        _key_json([d.get(k) for k in key])
        for d in reader.find(table, flt, key, [(k, 1) for k in key], limit=sample)
    ]
    return RuleResult(
        rid, kind, n <= float(threshold), n, threshold, f"{n} document(s) of {table} with {what}",
        keys, side, table, json.dumps(flt, default=str),
    )  # fmt: skip


def _count(sides: _Sides, side: str, table: str, rule: Mapping[str, Any]) -> int:
    r = sides.reader(side)
    flt = rule.get("filter")
    if isinstance(r, MongoReader):
        return r.count(table, flt if isinstance(flt, dict) else None)
    sql = qc.count_sql(r.dialect, table, qc.condition(flt if isinstance(flt, str) else None))
    return int(r.scalar(sql))  # type: ignore[attr-defined]


def _count_match(rid: str, rule: Mapping[str, Any], sides: _Sides) -> RuleResult:
    a = _count(sides, "source", rule["table"], rule)
    b = _count(sides, "target", rule.get("target_table", rule["table"]), rule)
    tol = _tolerance(rule, a)
    diff = abs(a - b)
    return RuleResult(
        rid, "count_match", diff <= tol, {"source": a, "target": b, "difference": diff}, tol,
        f"source has {a} rows, target {b} (difference {diff}, tolerance {tol:g})",
        [], "both", rule["table"],
    )  # fmt: skip


def _values(reader: Reader, table: str, cols: Sequence[str]) -> collections.Counter[tuple]:
    from datamigration.validate.sqlrender import quote_ident, quote_table

    out: collections.Counter[tuple] = collections.Counter()
    if isinstance(reader, MongoReader):
        for doc in reader.find(table, None, list(cols)):
            out[tuple(doc.get(c) for c in cols)] += 1
        return out
    q = ", ".join(quote_ident(c, reader.dialect) for c in cols)
    for row in reader.stream(f"SELECT {q} FROM {quote_table(table, reader.dialect)}"):  # type: ignore
        out[tuple(row)] += 1
    return out


def _cross_orphans(
    rid: str, rule: Mapping[str, Any], sides: _Sides, side: str, sample: int
) -> RuleResult:
    """Child on one database, parent on the other: compare the key sets on the client."""
    parent_side = (
        rule["ref_on"] if rule.get("ref_on") else ("source" if side == "target" else "target")
    )
    child = _values(sides.reader(side), _table_on(rule, side), rule["columns"])
    parent = _values(sides.reader(parent_side), rule["ref_table"], rule["ref_columns"])
    missing = [v for v in child if None not in v and v not in parent]
    n = sum(child[v] for v in missing)
    threshold = rule.get("tolerance", 0)
    return RuleResult(
        rid, "fk_orphans", n <= float(threshold), n, threshold,
        f"{n} row(s) of {rule['table']} on the {side} reference a {rule['ref_table']} missing on "
        f"the {parent_side}", [_key_json(v) for v in missing[:sample]], side, rule["table"],
    )  # fmt: skip


def _diff_rule(
    rid: str, rule: Mapping[str, Any], sides: _Sides, sample: int, workspace: Any
) -> RuleResult:
    from datamigration.validate.canonical import Normalisation
    from datamigration.validate.diff import DiffOptions, diff_tables, sample_compare

    options = DiffOptions(
        key=tuple(rule.get("key") or ()),
        columns=tuple(rule.get("columns") or ()),
        field_map=dict(rule.get("field_map") or {}),
        normalisation=Normalisation.from_dict(rule["normalisation"])
        if rule.get("normalisation") else None,
        lag_column=rule.get("lag_column"),
        lag_seconds=float(rule.get("lag_seconds", 0)),
        max_keys=max(sample, 50),
        gentle=sides.gentle,
    )  # fmt: skip
    src, dst = sides.url("source"), sides.url("target")
    table, target_table = rule["table"], rule.get("target_table", rule["table"])
    threshold = rule.get("tolerance", 0)
    if rule["type"] == "sample_compare":
        r = sample_compare(
            src, table, dst, target_table, int(rule.get("n", 100)), options, workspace
        )
        n = r["differences"]
        offending = [{"missing": k} for k in r["missing"][:sample]] + r["changed_fields"][:sample]
        message = f"{n} of {r['sampled']} sampled rows differ"
        return RuleResult(
            rid, "sample_compare", n <= float(threshold), n, threshold, message, offending,
            "both", table,
        )  # fmt: skip
    r = diff_tables(src, table, dst, target_table, options, workspace)
    n = r["missing_count"] + r["extra_count"] + r["changed_count"]
    offending = (
        [{"missing": k} for k in r["missing"][:sample]]
        + [{"extra": k} for k in r["extra"][:sample]]
        + r["changed_fields"][:sample]
    )
    message = (
        f"{r['missing_count']} missing, {r['extra_count']} extra, {r['changed_count']} changed "
        f"of {r['rows_compared']} rows ({r['seconds']} s)"
    )
    return RuleResult(
        rid, "checksum_diff", n <= float(threshold), n, threshold, message, offending[: sample * 3],
        "both", table,
    )  # fmt: skip
