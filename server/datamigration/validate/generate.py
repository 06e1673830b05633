"""Rules generated from a schema: the "validation design" step of a migration plan.

For a table being migrated, what the source schema already promises becomes a rule: the row
count must match, NOT NULL columns stay filled, foreign keys have parents, unique keys stay
unique, timestamps are not in the future, the target schema keeps types and constraints, and a
checksum diff proves the data equal. The file is a starting point the user edits afterwards,
which is why `write_rules_file` keeps an existing file with other content unless told to
replace it: both the CLI (`--overwrite`) and the MCP tool (`overwrite`) go through it.

A rules file names its databases without their passwords: by connection name, or by URL with
the password as ``${DATAMIGRATION_SOURCE_PASSWORD}`` / ``${DATAMIGRATION_TARGET_PASSWORD}``,
set in the environment when the rules run (see `db.urls.file_reference`).
"""

from __future__ import annotations

import json
from typing import Any

from datamigration.db import connect
from datamigration.db.dialect import dialect_of
from datamigration.db.urls import file_reference
from datamigration.errors import ConflictError, NotFoundError
from datamigration.validate.canonical import kind_of

#: Environment variables a generated rules file names for passwords it must not hold.
PASSWORD_VARS = {
    "source": "DATAMIGRATION_SOURCE_PASSWORD",
    "target": "DATAMIGRATION_TARGET_PASSWORD",
}


def without_passwords(doc: dict[str, Any], workspace: Any | None) -> dict[str, Any]:
    """`doc` with `source` and `target` named as a file may hold them (`file_reference`)."""
    out = dict(doc)
    for side, var in PASSWORD_VARS.items():
        if isinstance(out.get(side), str):
            out[side] = file_reference(out[side], workspace, password_var=var)[0]
    return out


def password_note(doc: dict[str, Any]) -> str | None:
    """What to do before running a rules file whose URLs name ${VAR} passwords, if anything."""
    needed = [
        var for side, var in PASSWORD_VARS.items() if f"${{{var}}}" in str(doc.get(side) or "")
    ]
    if not needed:
        return None
    return (
        f"the password is not written to the file: set {' and '.join(needed)} (the password as "
        "written in the URL) before the rules run, or name a connection from datamigration.toml"
    )


def rules_from_schema(
    source_url: str,
    table: str,
    *,
    target_url: str | None = None,
    target_table: str | None = None,
    workspace: Any | None = None,
) -> dict[str, Any]:
    """A rules document (schema-valid) for migrating `table` from source to target."""
    with connect(source_url, workspace) as backend:
        schema = backend.inspect(tables=[table])
        dialect = backend.dialect
    if dialect_of(dialect).documents:
        collection = schema.collection(table)
        assert collection is not None  # inspect(tables=[...]) raises NotFoundError otherwise
        return _collection_rules(collection, source_url, target_url, target_table, workspace)
    t = schema.table(table)
    if t is None:
        raise NotFoundError(f"table {table!r} not found", hint="Check the table name.")
    dst_table = target_table or table
    rules: list[dict[str, Any]] = []
    doc = _head(table, source_url, target_url, workspace)
    if target_url:
        rules.append({"id": f"{table}-count", "type": "count_match", "table": table,
                      "target_table": dst_table, "tolerance": 0})  # fmt: skip
    on = "target" if target_url else "source"

    def add(rule: dict[str, Any]) -> None:
        rule = {"id": rule.pop("id"), **rule, "table": table, "on": on}
        if target_url and dst_table != table:
            rule["target_table"] = dst_table
        rules.append(rule)

    required = [c.name for c in t.columns if not c.nullable]
    if required:
        add({"id": f"{table}-not-null", "type": "not_null", "columns": required})
    if t.primary_key:
        add({"id": f"{table}-pk-unique", "type": "unique", "columns": list(t.primary_key.columns)})
    seen = {tuple(t.primary_key.columns)} if t.primary_key else set()
    uniques = [u.columns for u in t.uniques] + [i.columns for i in t.indexes if i.unique]
    for cols in uniques:
        if tuple(cols) not in seen:
            seen.add(tuple(cols))
            add({"id": f"{table}-unique-{'-'.join(cols)}", "type": "unique", "columns": list(cols)})
    for fk in t.foreign_keys:
        add({"id": f"{table}-fk-{'-'.join(fk.columns)}", "type": "fk_orphans",
             "columns": list(fk.columns), "ref_table": fk.ref_table,
             "ref_columns": list(fk.ref_columns)})  # fmt: skip
    stamps = [
        c.name
        for c in t.columns
        if kind_of(c.data_type, dialect) in ("timestamp", "timestamptz", "date")
    ]
    if stamps:
        add({"id": f"{table}-no-future-dates", "type": "no_future_dates", "columns": stamps,
             "grace_seconds": 300})  # fmt: skip
    if target_url:
        rules.append({"id": f"{table}-schema", "type": "schema_fidelity", "table": table,
                      "target_table": dst_table})  # fmt: skip
        key = list(t.primary_key.columns) if t.primary_key else []
        diff: dict[str, Any] = {"id": f"{table}-checksum", "type": "checksum_diff", "table": table,
                                "target_table": dst_table}  # fmt: skip
        if key:
            diff["key"] = key
        rules.append(diff)
    doc["rules"] = rules
    return doc


def _collection_rules(
    c: Any,
    source_url: str,
    target_url: str | None,
    target_table: str | None,
    workspace: Any | None,
) -> dict[str, Any]:
    """Rules for a MongoDB collection from what its documents show (it declares no schema).

    What a sample can promise is little: the document count must match, and the top-level
    fields present and non-null in every sampled document must stay filled. Unique indexes
    stay unique. With a MongoDB target the documents are also compared by `_id`; a SQL target
    needs the mapping from fields to columns, which only the person writing the rules knows.
    """
    table = c.name
    dst_table = target_table or table
    doc = _head(table, source_url, target_url, workspace)
    rules: list[dict[str, Any]] = []
    if target_url:
        rules.append({"id": f"{table}-count", "type": "count_match", "table": table,
                      "target_table": dst_table, "tolerance": 0})  # fmt: skip
    on = "target" if target_url else "source"

    def add(rule: dict[str, Any]) -> None:
        rule = {"id": rule.pop("id"), **rule, "table": table, "on": on}
        if target_url and dst_table != table:
            rule["target_table"] = dst_table
        rules.append(rule)

    required = [
        f.path
        for f in c.fields
        if c.sampled
        and f.count >= c.sampled
        and "null" not in f.types
        and f.path != "_id"
        and "." not in f.path
        and "[" not in f.path
    ]
    if required:
        add({"id": f"{table}-required", "type": "required_fields", "columns": required})
    for index in c.indexes:
        # Index keys read `field:direction`; a partial unique index promises less than this.
        cols = [col.rpartition(":")[0] or col for col in index.columns]
        if index.unique and not index.primary and not index.predicate and index.method == "btree":
            add({"id": f"{table}-unique-{'-'.join(cols)}", "type": "unique", "columns": cols})
    if target_url and dialect_of(_dialect_of(target_url, workspace)).documents:
        rules.append({"id": f"{table}-checksum", "type": "checksum_diff", "table": table,
                      "target_table": dst_table, "key": ["_id"]})  # fmt: skip
    doc["rules"] = rules
    return doc


def _head(
    table: str, source_url: str, target_url: str | None, workspace: Any | None
) -> dict[str, Any]:
    """The document's header; its databases named without passwords."""
    doc: dict[str, Any] = {"version": 1, "name": f"migrate {table}", "source": source_url}
    if target_url:
        doc["target"] = target_url
    return without_passwords(doc, workspace)


def _dialect_of(url: str, workspace: Any | None) -> str:
    from datamigration.db.urls import resolve

    return resolve(url, workspace).dialect


def render_rules(doc: dict[str, Any], suffix: str) -> str:
    """The rules document as file text: JSON for a `.json` file, YAML otherwise."""
    import yaml

    if suffix.lower() == ".json":
        return json.dumps(doc, indent=2) + "\n"
    return yaml.safe_dump(doc, sort_keys=False)


def write_rules_file(
    workspace: Any, path: str, doc: dict[str, Any], *, overwrite: bool = False
) -> str:
    """Write `doc` to `path` (inside the workspace); returns the workspace-relative path.

    A file that already exists with other content may hold hand-made edits, so it is refused
    (ConflictError) unless `overwrite`; writing the very same content again is harmless and
    allowed, which keeps a repeated generation idempotent. Whatever `doc` says, the file
    names its databases without passwords (`without_passwords`)."""
    target = workspace.resolve(path)
    text = render_rules(without_passwords(doc, workspace), target.suffix)
    shown = workspace.relative(target)
    if target.is_dir():
        raise ConflictError(
            f"{shown} is a directory", hint="Name a file, e.g. validation/rules.yaml.", path=shown
        )
    if target.exists() and not overwrite and target.read_text(encoding="utf-8") != text:
        raise ConflictError(
            f"{shown} already exists with other content",
            hint="It may hold hand-made edits: pick another path, or replace it on purpose "
            "(--overwrite on the CLI, overwrite=true in the tool).",
            path=shown,
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return str(shown)
