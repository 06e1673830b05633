"""Change kinds on a MongoDB collection → steps of document operations (expand-contract).

The SQL recipes of kinds.py rely on DDL and triggers; a collection has neither. Here a field
change is expand-contract on documents: the application writes the new field beside the old one
(a manual deploy step: MongoDB has no triggers), a keyset backfill over ``_id`` fills the new
field for existing documents, a read-only check proves every document's new field equals the
transform of its old one, the application switches, and only then the old field is removed
($unset, destructive, after validation and confirmation). Every step carries its reverse: unset
the new field, drop the index, put the validator back, restore the old field from the new one.

Only in-place collection changes are planned; moving a collection between databases
(move_table) waits for the copy/CDC engine.
"""

from __future__ import annotations

import json
from typing import Any

from datamigration.db.model import Collection, FieldStat, Schema
from datamigration.documents.transform import TARGETS, check_expression, input_fields
from datamigration.errors import FileFormatError, NotFoundError, UserInputError
from datamigration.plan import ops_mongodb as mo
from datamigration.plan.ops_base import manual_op, name_of
from datamigration.plan.toolkit import (
    Built,
    Ctx,
    NotYetSupportedError,
    Rule,
    not_null_rule,
    refuse_move_table,
    step,
    unique_rule,
)
from datamigration.safeload import load_json

#: back-conversions that give the original value exactly (the contract can then be undone)
LOSSLESS_BACK = {("int", "long"), ("int", "double"), ("int", "string"), ("long", "string"),
                 ("int", "decimal"), ("long", "decimal"), ("string", "string")}  # fmt: skip

REFUSAL = (
    "{kind} is not planned on MongoDB: only in-place collection changes are (rename, add, drop "
    "or convert a field, make a field required, add or drop an index, backfill a field). "
    "Moving a collection between databases (move_table) arrives with the copy/CDC engine."
)


def coll_of(schema: Schema, name: str) -> Collection:
    c = schema.collection(name)
    if c is None:
        raise NotFoundError(
            f"collection {name!r} not found in the database",
            hint="Check the name: inspecting the database lists its collections.",
        )
    return c


def field_of(coll: Collection, name: str) -> FieldStat | None:
    return next((f for f in coll.fields if f.path == name), None)


def need_field(coll: Collection, name: str) -> FieldStat:
    f = field_of(coll, name)
    if f is None and (coll.document_count or 0) > 0:
        raise NotFoundError(
            f"field {coll.name}.{name} is in none of the {coll.sampled} sampled documents",
            hint="Fields seen: " + ", ".join(x.path for x in coll.fields if "." not in x.path),
        )
    return f or FieldStat(path=name)


def main_type(f: FieldStat) -> str | None:
    """The field's most frequent BSON type other than null, from the sample."""
    types = [t for t in f.types if t != "null"]
    return max(types, key=lambda t: f.types[t]) if types else None


_EXPR_HINT = 'Write the expression as one JSON value, e.g. {"$concat": ["$first", " ", "$last"]}.'


def parse_expr(text: Any) -> Any:
    """A transform given as text in the spec: JSON when it looks like JSON, else as written
    ("$field" is a field path, anything else a literal string)."""
    if isinstance(text, str) and text.strip()[:1] in ("{", "["):
        value = load_json(text, source="expression", hint=_EXPR_HINT)  # bounded depth
    else:
        value = text
    check_expression(value)
    return value


def parse_value(text: Any) -> Any:
    """A value given as text (set_not_null's fill): JSON when it parses ('"n/a"', '0',
    '{"$date": ...}'), else the text itself."""
    try:
        return load_json(text, source="value", hint="") if isinstance(text, str) else text
    except FileFormatError:
        return text


def parse_filter(text: Any) -> dict[str, Any]:
    if not text:
        return {}
    if isinstance(text, dict):
        return text
    try:
        value = load_json(text, source="filter", hint="")
    except FileFormatError:
        value = None
    if not isinstance(value, dict):
        raise UserInputError(
            f"on MongoDB `where` is a filter document as JSON, not {text!r}",
            hint='For example: "where": "{\\"status\\": \\"active\\"}"',
        )
    return value


def filled_rule(coll: str, new: str, old: str) -> Rule:
    return not_null_rule(f"{coll}-{new}-filled", coll, new,
                         where={old: {"$exists": True, "$ne": None}},
                         description=f"every document with {old} has {new}")  # fmt: skip


def key_rule(coll: str) -> Rule:
    return not_null_rule(f"{coll}-id-present", coll, "_id",
                         description="every document still has its _id")  # fmt: skip


class MongoCtx(Ctx):
    def coll(self) -> Collection:
        return coll_of(self.schema, self.spec.table or "")

    def manual(self, phase: str, title: str, text: str, rules: list[dict[str, Any]] | None = None,
               gates: tuple[str, ...] = ("confirmation",)):  # fmt: skip
        return step(phase, title, text, [manual_op(title, text, dialect="mongodb")],
                    validation=rules, gates=gates)  # fmt: skip


# --- field copies: rename and change_type ------------------------------------------------------


def _field_copy(c: MongoCtx, coll: Collection, old: str, new: str, expr: Any,
                back: Any | None, what: str) -> None:  # fmt: skip
    """Expand-contract from `old` to `new` = expr(old); `back` rebuilds old from new (the
    contract's undo), None when that would lose information."""
    b, n = c.built, coll.document_count
    name = coll.name
    b.tables.append(name)
    has_old = {old: {"$exists": True}}
    rules = [filled_rule(name, new, old)]
    expect = {new: expr}
    b.steps.append(c.manual("expand", f"Application writes {new} beside {old}",
                            mo.dual_write_instructions(name, old, new, expr)))  # fmt: skip
    backfill = mo.set_fields(
        name, {new: expr}, has_old, f"backfill {name}.{new} from {old}", batch_size=c.batch,
        estimated=n, reverse=(mo.unset_field(name, new, batch_size=c.batch, estimated=n),),
    )  # fmt: skip
    check = mo.count_mismatches(name, expect, has_old,
                                f"every document's {new} equals {what} of {old}")  # fmt: skip
    b.steps.append(step(
        "migrate", f"Backfill {new}",
        f"Set {new} to {what} of {old} in keyset batches of {c.batch:,} documents over _id "
        f"(checkpoint in _datamigration_runs after each batch), then count the documents whose "
        f"{new} differs from {what} of {old}: the step fails unless that count is 0.",
        [backfill, check], validation=rules,
    ))  # fmt: skip
    b.steps.append(c.manual(
        "switch", f"Application reads {new}",
        f"Deploy the version that reads {new} and still writes both fields. The previous "
        "version keeps working: it reads and writes {old}, and every write keeps both.".replace(
            "{old}", old),
        rules, ("validation_passed", "confirmation"),
    ))  # fmt: skip
    if c.spec.get("keep_old"):
        return
    b.steps.append(c.manual(
        "switch", f"Application stops writing {old}",
        f"Deploy the version that writes only {new} and removes {old} in the same update "
        f'({{"$set": {{"{new}": ...}}, "$unset": {{"{old}": ""}}}}), once no instance reads '
        f"{old} any more. A document it touched has no {old} left, so the check before the "
        "contract still holds.",
        rules, ("validation_passed", "confirmation"),
    ))  # fmt: skip
    b.steps.append(step(
        "contract", f"Check {new} against {old}",
        f"Read-only: the count of documents whose {new} differs from {what} of {old} must be 0 "
        "before anything is removed.",
        [mo.count_mismatches(name, expect, has_old,
                             f"every document's {new} equals {what} of {old}")],
        validation=rules,
    ))  # fmt: skip
    restore = (
        [mo.set_fields(name, {old: back}, {new: {"$exists": True}},
                       f"restore {name}.{old} from {new}", batch_size=c.batch, estimated=n)]
        if back is not None else []
    )  # fmt: skip
    unset = mo.unset_field(name, old, batch_size=c.batch, estimated=n, destructive=True,
                           reverse=restore)  # fmt: skip
    b.steps.append(step(
        "contract", f"Remove {name}.{old}",
        f"$unset {old} in keyset batches, only after validation passed and every application "
        "instance stopped reading it. "
        + (f"The rollback rebuilds {old} from {new}." if back is not None
           else f"Point of no return: {old} cannot be rebuilt exactly from {new}."),
        [unset], reversible=back is not None,
    ))  # fmt: skip
    b.final_rules.append(key_rule(name))


def build_rename_field(c: MongoCtx) -> None:
    coll = c.coll()
    old, new = c.spec.get("column"), c.spec.get("new_name")
    need_field(coll, old)
    if field_of(coll, new) is not None:
        raise UserInputError(f"{coll.name}.{new} already exists", hint="Pick another new_name.")
    _field_copy(c, coll, old, new, f"${old}", f"${new}", "a copy")


def build_change_type(c: MongoCtx) -> None:
    coll = c.coll()
    old, to = c.spec.get("column"), c.spec.get("type")
    f = need_field(coll, old)
    if to not in TARGETS and not c.spec.get("using"):
        raise UserInputError(f"no conversion to {to!r} on MongoDB",
                             hint="type is one of: " + ", ".join(TARGETS))  # fmt: skip
    new = c.spec.get("new_name") or name_of(old, to)
    if field_of(coll, new) is not None:
        raise UserInputError(f"{coll.name}.{new} already exists", hint='Name it: "new_name".')
    expr = (parse_expr(c.spec.get("using")) if c.spec.get("using")
            else {"$convert": {"input": f"${old}", "to": to}})  # fmt: skip
    was = main_type(f)
    back = ({"$convert": {"input": f"${new}", "to": was}}
            if was and (was, to) in LOSSLESS_BACK and not c.spec.get("using") else None)  # fmt: skip
    if len([t for t in f.types if t != "null"]) > 1:
        c.built.warnings.append(
            f"{coll.name}.{old} holds several types in the sample ({', '.join(f.types)}): the "
            f"conversion to {to} must accept each of them, or the backfill stops at the first "
            "document it cannot convert."
        )
    c.built.warnings.append(
        f"MongoDB cannot swap a field's name across a collection at once: the converted values "
        f"end in {new}. To keep the name {old}, plan rename_column {new} -> {old} afterwards."
    )
    _field_copy(c, coll, old, new, expr, back, f"$convert to {to}")


# --- other kinds ---------------------------------------------------------------------------------


def _required_steps(c: MongoCtx, coll: Collection, field: str) -> None:
    """A $jsonSchema validator requiring `field` (not null): first validationAction "warn"
    (violations are logged, writes go on), then, after validation passed, "error"."""
    previous = {"validator": coll.validator,
                "validationLevel": (coll.options or {}).get("validationLevel"),
                "validationAction": (coll.options or {}).get("validationAction")}  # fmt: skip
    need = {"required": [field], "properties": {field: {"not": {"bsonType": "null"}}}}
    current = dict(coll.validator or {})
    if not current:
        validator: dict[str, Any] = {"$jsonSchema": {"bsonType": "object", **need}}
    elif set(current) == {"$jsonSchema"}:
        js = dict(current["$jsonSchema"])
        js["required"] = list(dict.fromkeys([*js.get("required", []), field]))
        js["properties"] = {**js.get("properties", {}), **need["properties"]}
        validator = {"$jsonSchema": js}
    else:
        validator = {"$and": [current, {"$jsonSchema": need}]}
    rule = not_null_rule(f"{coll.name}-{field}-not-null", coll.name, field)
    c.built.steps.append(step(
        "migrate", f"Validator requiring {field} (warn)",
        f"collMod: a $jsonSchema validator requiring {field}, validationAction \"warn\": writes "
        "that break it are logged, not refused, while the rule below proves the data.",
        [mo.coll_mod(coll.name, validator, "moderate", "warn",
                     f"require {field} on {coll.name} (warn)", previous)],
        validation=[rule],
    ))  # fmt: skip
    c.built.steps.append(step(
        "migrate", f"Enforce {field}",
        f'collMod: validationAction "error": a write without {field} is refused from now on.',
        [mo.coll_mod(coll.name, validator, "strict", "error",
                     f"enforce {field} on {coll.name}", previous)],
        validation=[rule], gates=("validation_passed", "confirmation"),
    ))  # fmt: skip
    c.built.final_rules.append(rule)
    c.built.warnings.append(
        "Servers that ignore validators (nx-27017) accept the collMod and enforce nothing: the "
        f"not_null rule on {field} is then the only check."
    )


def build_set_not_null(c: MongoCtx) -> None:
    coll = c.coll()
    field = c.spec.get("column")
    need_field(coll, field)
    c.built.tables.append(coll.name)
    if c.spec.get("fill") is not None:
        fill = parse_value(c.spec.get("fill"))
        c.built.steps.append(step(
            "migrate", f"Fill missing {field}",
            f"Set {field} to {mo.render_expr(fill)} where it is missing or null, in keyset "
            "batches. The previous (missing) values are not kept: a point of no return.",
            # {"$in": [null]} matches null and missing alike
            [mo.update_many(coll.name, {field: {"$in": [None]}},
                            {"$set": {field: fill}}, f"fill {coll.name}.{field}",
                            batch_size=c.batch, estimated=coll.document_count)],
            reversible=False,
        ))  # fmt: skip
    _required_steps(c, coll, field)


def build_add_field(c: MongoCtx) -> None:
    coll = c.coll()
    field, default = c.spec.get("column"), c.spec.get("default")
    if field_of(coll, field) is not None:
        raise UserInputError(f"{coll.name}.{field} already exists", hint="Nothing to add.")
    if c.spec.get("nullable") is False and default is None:
        raise UserInputError(f"a required field {field} needs a default for existing documents",
                             hint='Give "default", or add it optional, backfill, then '
                             "set_not_null.")  # fmt: skip
    c.built.tables.append(coll.name)
    writes = f" with {json.dumps(default)} unless it has a value" if default is not None else ""
    c.built.steps.append(c.manual(
        "expand", f"Application writes {field}",
        f"Deploy the version that writes {field} on every insert{writes} and reads documents "
        f"without it (MongoDB has no column defaults: the application sets it).",
    ))  # fmt: skip
    if default is not None:
        n = coll.document_count
        c.built.steps.append(step(
            "migrate", f"Backfill {field}",
            f"Set {field} to {json.dumps(default)} in documents without it, in keyset batches.",
            [mo.update_many(coll.name, {field: {"$exists": False}}, {"$set": {field: default}},
                            f"default {coll.name}.{field}", batch_size=c.batch, estimated=n,
                            reverse=(mo.unset_field(coll.name, field, batch_size=c.batch,
                                                    estimated=n),))],
            validation=[not_null_rule(f"{coll.name}-{field}-filled", coll.name, field)],
        ))  # fmt: skip
    if c.spec.get("nullable") is False:
        _required_steps(c, coll, field)
    c.built.final_rules.append(key_rule(coll.name))


def build_drop_field(c: MongoCtx) -> None:
    coll = c.coll()
    field = c.spec.get("column")
    need_field(coll, field)
    c.built.tables.append(coll.name)
    c.built.steps.append(c.manual(
        "switch", f"Application stops using {field}",
        f"Deploy the version that no longer reads or writes {coll.name}.{field}.",
        [key_rule(coll.name)], ("validation_passed", "confirmation"),
    ))  # fmt: skip
    c.built.steps.append(step(
        "contract", f"Remove {coll.name}.{field}",
        f"$unset {field} in keyset batches once no application version uses it. Point of no "
        "return: the values are gone (restore from the verified backup).",
        [mo.unset_field(coll.name, field, batch_size=c.batch, estimated=coll.document_count,
                        destructive=True)],
        reversible=False,
    ))  # fmt: skip
    c.built.final_rules.append(key_rule(coll.name))


def build_add_index(c: MongoCtx) -> None:
    coll = c.coll()
    cols = list(c.spec.get("columns"))
    keys = mo.index_keys(cols)
    unique = bool(c.spec.get("unique")) or c.spec.kind == "add_unique"
    name = c.spec.get("name") or name_of(
        coll.name, *(k for k, _ in keys), "key" if unique else "idx"
    )
    for ix in coll.indexes:
        if ix.name == name or [x.split(":")[0] for x in ix.columns] == [k for k, _ in keys]:
            raise UserInputError(f"index {ix.name} on {coll.name} already covers these keys",
                                 hint="Pick other keys, or drop it first.")  # fmt: skip
    options: dict[str, Any] = {"unique": True} if unique else {}
    if c.spec.get("where"):
        options["partialFilterExpression"] = parse_filter(c.spec.get("where"))
    fields = [k for k, _ in keys]
    rules = [unique_rule(f"{name}-unique", coll.name, fields)] if unique else []
    c.built.tables.append(coll.name)
    c.built.steps.append(step(
        "expand", f"Index {name}",
        "createIndexes: built while reads and writes go on (an exclusive lock only at the start "
        "and end of the build)." + (" A duplicate value fails the build, changing nothing."
                                    if unique else ""),
        [mo.create_index(coll.name, name, keys, options)], validation=rules,
    ))  # fmt: skip


def build_drop_index(c: MongoCtx) -> None:
    name = c.spec.get("name")
    found = [(col, ix) for col in c.schema.collections for ix in col.indexes if ix.name == name]
    if c.spec.table:
        found = [(col, ix) for col, ix in found if col.name == c.spec.table]
    if not found:
        raise NotFoundError(f"index {name!r} not found", hint="Check the index name.")
    coll, ix = found[0]
    if ix.primary:
        raise UserInputError("the _id index cannot be dropped", hint="Pick another index.")
    definition = json.loads(ix.definition) if ix.definition else {}
    options = {k: v for k, v in definition.items()
               if k in ("unique", "sparse", "partialFilterExpression", "expireAfterSeconds")}  # fmt: skip
    keys = mo.index_keys(ix.columns)
    c.built.tables.append(coll.name)
    c.built.steps.append(step(
        "contract", f"Drop index {name}",
        "dropIndexes; the rollback builds it again with its keys and options.",
        [mo.drop_index(coll.name, name, keys, options)],
    ))  # fmt: skip


def build_backfill(c: MongoCtx) -> None:
    coll = c.coll()
    sets = {k: parse_expr(v) for k, v in dict(c.spec.get("set")).items()}
    flt = parse_filter(c.spec.get("where"))
    rereads = [k for k, v in sets.items() if k in input_fields(v)]
    if rereads:
        c.built.warnings.append(
            f"The backfill of {', '.join(rereads)} reads the value it replaces: the checkpoint "
            "keeps each document to one pass; running it again from the start would apply it "
            "twice."
        )
    c.built.tables.append(coll.name)
    c.built.steps.append(step(
        "migrate", f"Backfill {coll.name}",
        f"Set {', '.join(sets)} in keyset batches of {c.batch:,} documents; documents already "
        "right are skipped. The previous values are not kept: a point of no return.",
        [mo.set_fields(coll.name, sets, flt, f"backfill {coll.name}", batch_size=c.batch,
                       estimated=coll.document_count)],
        reversible=False,
    ))  # fmt: skip
    c.built.final_rules.append(key_rule(coll.name))


BUILDERS = {
    "rename_column": build_rename_field,
    "change_type": build_change_type,
    "add_column": build_add_field,
    "drop_column": build_drop_field,
    "set_not_null": build_set_not_null,
    "add_index": build_add_index,
    "add_unique": build_add_index,
    "drop_index": build_drop_index,
    "backfill": build_backfill,
}


def build(spec: Any, schema: Schema, d: Any) -> Built:
    """The steps of `spec` on a MongoDB database (plan/kinds.build's document-database branch)."""
    c = MongoCtx(spec, schema, d)
    if spec.kind == "move_table":
        refuse_move_table(c)
    if spec.kind not in BUILDERS:
        raise NotYetSupportedError(REFUSAL.format(kind=spec.kind), hint="Plan one of: "
                                   + ", ".join(BUILDERS), kind=spec.kind)  # fmt: skip
    BUILDERS[spec.kind](c)
    return c.built
