"""The document mapping without a database: the file's schema, names checked against a source
schema, documents built with one fetch per embedded table, the suggestion, the validator."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import pytest
from bson import Decimal128, Int64

from datamigration.cli import build_parser
from datamigration.db.model import (
    Column,
    ForeignKey,
    Index,
    PrimaryKey,
    Schema,
    Table,
    UniqueConstraint,
)
from datamigration.errors import FileFormatError
from datamigration.move.collection_setup import collection_validator, setup_operations
from datamigration.move.documents import DocumentBuilder, RowRejected
from datamigration.move.mapping import (
    MappingError,
    describe,
    load_mapping_file,
    resolve_mapping,
)
from datamigration.move.suggest import suggest_mapping


def col(name: str, type_: str, nullable: bool = True) -> Column:
    return Column(name, type_, type_.split("(")[0], nullable=nullable)


def fk(cols: tuple[str, ...], table: str, ref: tuple[str, ...] = ("id",)) -> ForeignKey:
    return ForeignKey(None, cols, table, ref)


USERS = Table(
    "users",
    columns=(
        col("id", "bigint", False),
        col("email", "text", False),
        col("name", "text"),
        col("balance", "numeric(12,2)"),
        col("born", "date"),
        col("org_id", "integer"),
        col("manager_id", "bigint"),
    ),
    primary_key=PrimaryKey("users_pkey", ("id",)),
    uniques=(UniqueConstraint("users_email_key", ("email",)),),
    foreign_keys=(fk(("org_id",), "orgs"), fk(("manager_id",), "users")),
    indexes=(
        Index("users_pkey", ("id",), unique=True, primary=True),
        Index("users_name_idx", ("name",)),
        Index("users_lower_email", ("lower(email)",)),
    ),
)
ORDERS = Table(
    "orders",
    columns=(
        col("id", "bigint", False),
        col("user_id", "bigint", False),
        col("total", "numeric(10,2)", False),
        col("placed_at", "timestamp without time zone", False),
    ),
    primary_key=PrimaryKey("orders_pkey", ("id",)),
    foreign_keys=(fk(("user_id",), "users"),),
)
ITEMS = Table(
    "order_items",
    columns=(col("order_id", "bigint", False), col("line", "integer", False), col("sku", "text")),
    primary_key=PrimaryKey(None, ("order_id", "line")),
    foreign_keys=(fk(("order_id",), "orders"),),
)
ORGS = Table(
    "orgs",
    columns=(col("id", "integer", False), col("name", "text", False)),
    primary_key=PrimaryKey(None, ("id",)),
)
SCHEMA = Schema("postgresql", "shop", tables=(USERS, ORDERS, ITEMS, ORGS))


def users_mapping(**extra) -> dict:
    spec = {
        "collection": "users",
        "root": "users",
        "embed": [
            {
                "table": "orders",
                "kind": "array",
                "sort": [{"column": "placed_at", "order": "desc"}],
                "embed": [{"table": "order_items", "kind": "array", "as": "items"}],
            }
        ],
        **extra,
    }
    return {"version": 1, "collections": [spec]}


class FakeSource:
    """Rows by table, answering fetches the way the SQL fetcher does, and counting them."""

    def __init__(self, tables: dict[str, list[dict]]) -> None:
        self.tables = tables
        self.calls: list[tuple[str, int]] = []

    def __call__(self, table, columns, match, keys, order_by, limit):
        self.calls.append((table, len(keys)))
        wanted = set(keys)
        rows = [r for r in self.tables[table] if tuple(r[c] for c in match) in wanted]
        for c, order in reversed(list(order_by)):
            rows.sort(key=lambda r, c=c: r[c], reverse=order == "desc")
        rows.sort(key=lambda r: tuple(r[c] for c in match))
        return [{c: r[c] for c in columns} for r in rows]


def source_rows() -> FakeSource:
    orders = [
        {"id": i, "user_id": 1 + i % 3, "total": decimal.Decimal(f"{i}.50"),
         "placed_at": dt.datetime(2024, 1, 1) + dt.timedelta(days=i)}
        for i in range(1, 13)
    ]  # fmt: skip
    items = [{"order_id": o, "line": n, "sku": f"s{o}-{n}"} for o in range(1, 13) for n in (1, 2)]
    return FakeSource({"orders": orders, "order_items": items})


def user(i: int, **kw) -> dict:
    row = {"id": i, "email": f"u{i}@x", "name": None if i % 2 else f"n{i}",
           "balance": decimal.Decimal("10.25"), "born": dt.date(1990, 1, i),
           "org_id": None, "manager_id": None}  # fmt: skip
    return row | kw


# --- the file's schema ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda m: m.update(extra=1), "Additional properties"),
        (lambda m: m["collections"][0].update(collection="$bad"), "does not match"),
        (lambda m: m["collections"][0].update(collection="a.b"), "does not match"),
        (lambda m: m["collections"][0].update(id="objectid"), "is not one of"),
        (lambda m: m["collections"][0]["embed"][0].update(limit=0), "less than the minimum"),
        (lambda m: m["collections"][0]["embed"][0].update(kind="set"), "is not one of"),
        (lambda m: m["collections"][0]["embed"][0].update(surprise=True), "Additional"),
        (lambda m: m["collections"][0].update(fields={"name": {"type": "javascript"}}),
         "is not one of"),
        (lambda m: m["collections"][0].update(fields={"name": {"name": "a.b"}}), "does not match"),
        (lambda m: m.update(collections=[]), "should be non-empty"),
    ],
)  # fmt: skip
def test_a_mapping_that_breaks_its_schema_is_refused_with_the_spot(change, problem):
    mapping = users_mapping()
    change(mapping)
    with pytest.raises(FileFormatError) as err:
        resolve_mapping(mapping, SCHEMA)
    assert problem in err.value.message


def test_a_mapping_file_is_read_safely_and_a_missing_or_too_deep_file_is_refused(tmp_path):
    good = tmp_path / "m.yaml"
    good.write_text("collections:\n  - {collection: users, root: users}\n")
    assert load_mapping_file(good)["collections"][0]["root"] == "users"
    deep = tmp_path / "deep.json"
    deep.write_text('{"collections": ' + "[" * 200 + "]" * 200 + "}")
    with pytest.raises(FileFormatError, match="nests deeper"):
        load_mapping_file(deep)
    evil = tmp_path / "evil.yaml"
    evil.write_text("!!python/object/apply:os.system ['true']\n")
    with pytest.raises(FileFormatError):
        load_mapping_file(evil)
    with pytest.raises(FileFormatError, match="not found"):
        load_mapping_file(tmp_path / "absent.json")


# --- names against the source schema --------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "named", "hint"),
    [
        (lambda s: s.update(root="user"), "'user'", "users"),
        (lambda s: s.update(fields={"emial": {"name": "mail"}}), "'emial'", "email"),
        (lambda s: s.update(exclude=["nmae"]), "'nmae'", "name"),
        (lambda s: s["embed"][0].update(sort=[{"column": "placed"}]), "'placed'", "placed_at"),
        (lambda s: s["embed"][0].update(foreign_key=["usr_id"]), "'usr_id'", "user_id"),
        (lambda s: s["embed"][0].update(table="order"), "'order'", "orders"),
        (lambda s: s.update(references=[{"foreign_key": ["org"]}]), "'org'", "org_id"),
    ],
)
def test_a_mapping_naming_something_the_source_lacks_names_it_and_the_closest(change, named, hint):
    mapping = users_mapping()
    change(mapping["collections"][0])
    with pytest.raises(MappingError) as err:
        resolve_mapping(mapping, SCHEMA)
    assert named in err.value.message
    assert hint in err.value.hint


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda s: s.update(fields={"name": {"name": "email"}}), "used twice"),
        (lambda s: s.update(fields={"name": {"name": "_id"}}), "_id"),
        (lambda s: s.update(exclude=["id"]), "excluded"),
        (lambda s: s["embed"].append({"table": "orgs", "kind": "array"}), "no foreign key"),
        (lambda s: s["embed"].append({"table": "orgs", "kind": "document", "limit": 2}),
         "arrays only"),
        (lambda s: s.update(references=[{"foreign_key": ["org_id"], "table": "orders"}]),
         "does not reference"),
    ],
)  # fmt: skip
def test_a_mapping_that_cannot_be_built_as_written_is_refused(change, words):
    mapping = users_mapping()
    change(mapping["collections"][0])
    with pytest.raises(MappingError, match=words):
        resolve_mapping(mapping, SCHEMA)


def test_embedding_deeper_than_four_levels_is_refused():
    level: dict = {"table": "orders", "kind": "array"}
    spec = level
    for _ in range(4):
        nxt = {
            "table": "users",
            "kind": "document",
            "embed": [{"table": "orders", "kind": "array"}],
        }
        spec["embed"] = [nxt]
        spec = nxt["embed"][0]
    mapping = {"collections": [{"collection": "u", "root": "users", "embed": [level]}]}
    with pytest.raises(MappingError, match="deeper than 4"):
        resolve_mapping(mapping, SCHEMA)


def test_a_composite_key_is_always_wrapped_and_a_table_without_a_key_is_refused():
    mapping = {"collections": [{"collection": "items", "root": "order_items"}]}
    cm = resolve_mapping(mapping, SCHEMA).collections[0]
    assert cm.id_strategy == "wrapped" and cm.key_paths == ("_id.order_id", "_id.line")
    keyless = Schema("postgresql", "x", tables=(Table("log", columns=(col("at", "text"),)),))
    with pytest.raises(MappingError, match="no primary key"):
        resolve_mapping({"collections": [{"collection": "log", "root": "log"}]}, keyless)


def test_a_changed_mapping_has_another_fingerprint():
    a = resolve_mapping(users_mapping(), SCHEMA)
    b = resolve_mapping(users_mapping(nulls="omit"), SCHEMA)
    assert a.fingerprint == resolve_mapping(users_mapping(), SCHEMA).fingerprint
    assert a.fingerprint != b.fingerprint


# --- building documents ----------------------------------------------------------------------


def test_documents_embed_sorted_children_and_grandchildren_with_one_fetch_per_table_per_batch():
    cm = resolve_mapping(users_mapping(), SCHEMA).collections[0]
    source = source_rows()
    builder = DocumentBuilder(cm, source)
    batches = [[user(1), user(2)], [user(3)], [user(4)]]
    docs = [d for batch in builder.stream(batches) for d in batch]
    assert [d["_id"] for d in docs] == [1, 2, 3, 4]
    assert [o["id"] for o in docs[0]["orders"]] == [12, 9, 6, 3]  # placed_at desc
    assert "user_id" not in docs[0]["orders"][0]
    assert [i["line"] for i in docs[0]["orders"][0]["items"]] == [1, 2]
    assert docs[3]["orders"] == []
    # one query per embedded table per batch, however many rows the batch has
    assert source.calls == [("orders", 2), ("order_items", 8), ("orders", 1), ("order_items", 4),
                            ("orders", 1)]  # fmt: skip


def test_values_become_exact_bson_types():
    cm = resolve_mapping(users_mapping(), SCHEMA).collections[0]
    (doc,) = DocumentBuilder(cm, source_rows()).build([user(2)])
    assert isinstance(doc["_id"], Int64)
    assert doc["balance"] == Decimal128("10.25")
    assert doc["orders"][0]["total"] == Decimal128("10.50")
    assert doc["born"] == dt.datetime(1990, 1, 2)
    assert doc["name"] == "n2" and doc["org_id"] is None


def test_nulls_can_be_omitted_and_an_array_limited_per_parent():
    mapping = users_mapping(nulls="omit")
    mapping["collections"][0]["embed"][0]["limit"] = 2
    cm = resolve_mapping(mapping, SCHEMA).collections[0]
    (doc,) = DocumentBuilder(cm, source_rows()).build([user(1)])
    assert "name" not in doc and "org_id" not in doc
    assert [o["id"] for o in doc["orders"]] == [12, 9]


def test_wrapped_and_derived_ids_are_the_same_for_the_same_row():
    def ids(strategy: str) -> list:
        mapping = {"collections": [{"collection": "users", "root": "users", "id": strategy}]}
        cm = resolve_mapping(mapping, SCHEMA).collections[0]
        return [d["_id"] for d in DocumentBuilder(cm, source_rows()).build([user(1), user(2)])]

    assert ids("wrapped") == [{"id": 1}, {"id": 2}]
    first = ids("uuid5")
    assert first == ids("uuid5") and first[0] != first[1]
    assert len(first[0]) == 36  # the UUID's text
    mapping = {"collections": [{"collection": "users", "root": "users", "id": "uuid5"}]}
    validator = collection_validator(resolve_mapping(mapping, SCHEMA).collections[0])
    assert validator["$jsonSchema"]["properties"]["_id"]["bsonType"] == "string"
    assert validator["$jsonSchema"]["properties"]["id"]["bsonType"] == "long"  # key kept


def test_a_row_whose_value_cannot_be_stored_as_mapped_is_set_aside_with_its_key():
    mapping = users_mapping()
    mapping["collections"][0]["fields"] = {"manager_id": {"type": "int"}}
    cm = resolve_mapping(mapping, SCHEMA).collections[0]
    builder = DocumentBuilder(cm, source_rows())
    with pytest.raises(RowRejected, match="32-bit"):
        builder.build([user(1, manager_id=2**40)])
    docs, rejects = builder.build_isolating([user(1), user(2, manager_id=2**40), user(3)])
    assert [d["_id"] for d in docs] == [1, 3]
    assert rejects[0]["key"] == [2] and "manager_id" in rejects[0]["error"]


# --- suggestion ------------------------------------------------------------------------------


def test_the_suggestion_embeds_children_keeps_parents_as_references_and_avoids_cycles():
    mapping = suggest_mapping(SCHEMA, "users")
    (spec,) = mapping["collections"]
    assert spec["id"] == "primary_key"
    (orders,) = spec["embed"]
    assert orders["table"] == "orders" and orders["sort"] == [{"column": "id"}]
    assert orders["embed"][0]["table"] == "order_items"
    assert {r["table"] for r in spec["references"]} == {"orgs", "users"}  # self-reference kept
    resolve_mapping(mapping, SCHEMA)  # what it proposes resolves


def test_the_suggestion_can_embed_parents_and_names_arrays_apart_when_two_keys_point_home():
    reviews = Table(
        "reviews",
        columns=(col("id", "int", False), col("author_id", "bigint"), col("subject_id", "bigint")),
        primary_key=PrimaryKey(None, ("id",)),
        foreign_keys=(fk(("author_id",), "users"), fk(("subject_id",), "users")),
    )
    schema = Schema("postgresql", "x", tables=(*SCHEMA.tables, reviews))
    mapping = suggest_mapping(schema, "users", embed_parents=True)
    names = [e["as"] for e in mapping["collections"][0]["embed"]]
    assert {"reviews_by_author_id", "reviews_by_subject_id", "orgs"} <= set(names)
    cm = resolve_mapping(mapping, schema).collections[0]
    assert any(e.kind == "document" and e.part.table == "orgs" for e in cm.root.embeds)
    with pytest.raises(MappingError, match="'user'"):
        suggest_mapping(schema, "user")


# --- the collection --------------------------------------------------------------------------


def test_the_validator_requires_not_null_fields_and_allows_null_only_where_the_source_does():
    cm = resolve_mapping(users_mapping(), SCHEMA).collections[0]
    schema = collection_validator(cm)["$jsonSchema"]
    assert schema["required"] == ["_id", "email", "orders"]
    props = schema["properties"]
    assert props["_id"] == {"bsonType": "long"}
    assert props["email"]["bsonType"] == "string"
    assert props["name"]["bsonType"] == ["string", "null"]
    assert props["balance"]["bsonType"] == ["decimal", "null"]
    order = props["orders"]["items"]
    assert order["required"] == ["id", "total", "placed_at", "items"]
    assert order["properties"]["items"]["items"]["required"] == ["line"]  # order_id: the parent
    omitted = collection_validator(
        resolve_mapping(users_mapping(nulls="omit"), SCHEMA).collections[0]
    )
    assert omitted["$jsonSchema"]["properties"]["name"]["bsonType"] == "string"


def test_indexes_keep_names_and_uniqueness_and_the_rest_is_noted():
    cm = resolve_mapping(users_mapping(), SCHEMA).collections[0]
    ops, notes = setup_operations(cm, SCHEMA)
    assert ops[0]["op"] == "create_collection"
    indexes = {o["options"].get("name"): o for o in ops[1:]}
    assert indexes["users_email_key"]["options"]["unique"] is True
    assert "partialFilterExpression" not in indexes["users_email_key"]["options"]
    assert indexes["users_name_idx"]["keys"] == [["name", 1]]
    assert indexes["users_orders_key"]["keys"] == [["orders.id", 1]]
    assert "users_pkey" not in indexes  # _id holds the key
    assert any("users_lower_email" in n for n in notes)


def test_a_unique_index_over_a_nullable_column_covers_only_rows_with_a_value():
    table = Table(
        "t",
        columns=(col("id", "int", False), col("code", "text")),
        primary_key=PrimaryKey(None, ("id",)),
        uniques=(UniqueConstraint("t_code_key", ("code",)),),
    )
    schema = Schema("postgresql", "x", tables=(table,))
    cm = resolve_mapping({"collections": [{"collection": "t", "root": "t"}]}, schema)
    ops, _ = setup_operations(cm.collections[0], schema)
    assert ops[1]["options"]["partialFilterExpression"] == {"code": {"$type": "string"}}


# --- faces -----------------------------------------------------------------------------------


def test_describe_says_where_each_table_goes():
    text = "\n".join(describe(resolve_mapping(users_mapping(), SCHEMA)))
    assert "users: documents from users" in text
    assert "orders: array of orders (user_id = id, sorted by placed_at)" in text
    assert "orders.items: array of order_items" in text


def test_the_mapping_commands_parse():
    parser = build_parser()
    args = parser.parse_args(["mapping", "suggest", "postgresql://h/db", "--root", "users"])
    assert args.root == "users" and args.func.__name__ == "cmd_suggest"
    args = parser.parse_args(["mapping", "diff", "pg", "mongodb://h/db", "m.json", "--json"])
    assert args.file == "m.json" and args.func.__name__ == "cmd_diff"
    assert json.loads(json.dumps(suggest_mapping(SCHEMA, "orders")))["collections"]


def test_the_mapping_schema_is_a_resource_and_errors_name_it_for_a_model(tmp_path):
    import asyncio

    from datamigration.mcp.app import build_server
    from datamigration.mcp.hints import for_mcp
    from datamigration.move.mapping import SCHEMA_HINT
    from datamigration.workspace.root import Workspace

    assert "schema://document-mapping" in for_mcp(SCHEMA_HINT)

    async def read() -> str:
        server = build_server(Workspace.open(tmp_path))
        listed = [str(r.uri) for r in await server.list_resources()]
        assert "schema://document-mapping" in listed
        got = await server.read_resource("schema://document-mapping")
        return got[0].content if isinstance(got, list) else str(got)

    assert '"collections"' in asyncio.run(read())


def test_a_unique_constraint_of_an_embedded_table_is_listed_as_not_enforced():
    orders = Table(
        ORDERS.name,
        columns=(*ORDERS.columns, col("number", "text", False)),
        primary_key=ORDERS.primary_key,
        foreign_keys=ORDERS.foreign_keys,
        uniques=(UniqueConstraint("orders_number_key", ("number",)),),
    )
    schema = Schema("postgresql", "shop", tables=(USERS, orders, ITEMS, ORGS))
    _, notes = setup_operations(resolve_mapping(users_mapping(), schema).collections[0], schema)
    assert any("orders unique (number) embedded in orders: not enforced" in n for n in notes)
    assert not any("order_items unique" in n for n in notes)  # only its primary key


def test_a_json_column_may_hold_any_json_value_in_the_document_and_the_validator():
    table = Table(
        "events",
        columns=(col("id", "int", False), col("body", "jsonb", False), col("meta", "jsonb")),
        primary_key=PrimaryKey(None, ("id",)),
    )
    schema = Schema("postgresql", "x", tables=(table,))
    mapping = {"collections": [{"collection": "events", "root": "events", "nulls": "omit"}]}
    cm = resolve_mapping(mapping, schema).collections[0]
    props = collection_validator(cm)["$jsonSchema"]["properties"]
    assert props["body"]["bsonType"] == ["object", "array", "string", "double", "int", "long",
                                         "bool"]  # fmt: skip
    assert "null" not in props["meta"]["bsonType"]
    rows = [{"id": 1, "body": {"a": [1, 2]}, "meta": None}, {"id": 2, "body": "scalar",
            "meta": '["text", "from sqlite"]'}]  # fmt: skip
    docs = DocumentBuilder(cm, source_rows()).build(rows)
    assert docs[0]["body"] == {"a": [1, 2]} and "meta" not in docs[0]
    assert docs[1]["body"] == "scalar" and docs[1]["meta"] == ["text", "from sqlite"]
