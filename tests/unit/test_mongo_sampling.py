"""Schema inference from raw BSON: exact BSON types, paths, counts and required-ness."""

from __future__ import annotations

import datetime
import uuid

import bson
import pytest
from bson import Binary, Decimal128, Int64, ObjectId, Regex
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions

from datamigration.db.mongodb.backend import collection_options, index_from_spec
from datamigration.db.mongodb.sample import (
    BsonFormatError,
    document_paths,
    infer_fields,
    is_required,
    summarize,
)

STANDARD = CodecOptions(uuid_representation=UuidRepresentation.STANDARD)


def enc(doc: dict) -> bytes:
    return bson.encode(doc, codec_options=STANDARD)


def test_int_and_long_are_told_apart_although_python_decodes_both_to_int():
    paths = document_paths(enc({"a": 1, "b": Int64(1), "c": 2**40}))
    assert paths.keys() >= {("a", "int"), ("b", "long"), ("c", "long")}


def test_every_common_bson_type_is_named_as_mongodb_names_it():
    doc = {
        "oid": ObjectId(), "dec": Decimal128("1.20"), "when": datetime.datetime(2024, 1, 1),
        "d": 1.5, "s": "x", "t": True, "bin": Binary(b"\x00", 0), "u": uuid.uuid4(),
        "obj": {"k": 1}, "arr": [1], "n": None, "re": Regex("^a"),
    }  # fmt: skip
    types = dict(document_paths(enc(doc)))
    names = {p: t for p, t in types}
    assert names == {
        "oid": "objectId", "dec": "decimal", "when": "date", "d": "double", "s": "string",
        "t": "bool", "bin": "binData", "u": "binData", "obj": "object", "obj.k": "int",
        "arr": "array", "arr[]": "int", "n": "null", "re": "regex",
    }  # fmt: skip


def test_nested_documents_and_arrays_get_dotted_and_bracketed_paths():
    doc = {"address": {"geo": {"lat": 1.0}}, "orders": [{"sku": "a"}], "m": [[1, 2]]}
    paths = [p for p, _ in document_paths(enc(doc))]
    assert paths == ["address", "address.geo", "address.geo.lat", "orders", "orders[]",
                     "orders[].sku", "m", "m[]", "m[][]"]  # fmt: skip


def test_counts_are_documents_and_mixed_types_keep_their_frequencies():
    docs = [
        enc({"age": 30, "tags": ["a", "b", "c"]}),
        enc({"age": "31", "tags": []}),
        enc({"age": 32, "nick": None}),
        enc({"age": 33, "tags": ["x", 1]}),
    ]
    fields, sampled = infer_fields(docs)
    by = {f.path: f for f in fields}
    assert sampled == 4
    assert dict(by["age"].types) == {"int": 3, "string": 1} and by["age"].count == 4
    assert dict(by["tags[]"].types) == {"string": 2, "int": 1} and by["tags[]"].count == 2
    assert by["tags"].frequency == 0.75 and by["nick"].frequency == 0.25
    assert is_required(by["age"], sampled) and not is_required(by["tags"], sampled)
    rows = summarize(fields, sampled)
    assert rows[0] == {"path": "age", "types": {"int": 3, "string": 1}, "frequency": 1.0,
                       "required": True}  # fmt: skip


def test_plain_mappings_and_raw_documents_are_both_accepted():
    fields, sampled = infer_fields([{"a": 1}, bson.raw_bson.RawBSONDocument(enc({"a": 2}))])
    assert sampled == 2 and fields[0].types == {"int": 2}


def test_malformed_bson_is_reported_not_misread():
    data = bytearray(enc({"a": "hello"}))
    data[4] = 0x42  # an element type that does not exist
    with pytest.raises(BsonFormatError):
        document_paths(bytes(data))
    with pytest.raises(BsonFormatError):
        document_paths(enc({"a": "hello"})[:-3] + b"\x00")


def test_an_empty_sample_has_no_fields():
    assert infer_fields([]) == ((), 0)


def test_index_specs_become_model_indexes_with_keys_and_kinds():
    ix = index_from_spec(
        {"v": 2, "key": {"email": 1, "created": -1}, "name": "email_1_created_-1",
         "unique": True, "partialFilterExpression": {"deleted": False}},
        {"email_1_created_-1": 4096},
    )  # fmt: skip
    assert ix.columns == ("email:1", "created:-1") and ix.unique and ix.method == "btree"
    assert ix.predicate == '{"deleted": false}' and ix.size_bytes == 4096
    text = index_from_spec({"key": {"body": "text"}, "name": "body_text"})
    assert text.method == "text" and not text.unique
    pk = index_from_spec({"key": {"_id": 1}, "name": "_id_"})
    assert pk.primary and pk.unique


def test_a_validator_is_read_from_the_list_collections_options():
    validator, options = collection_options(
        {"name": "users", "type": "collection",
         "options": {"validator": {"$jsonSchema": {"required": ["email"]}},
                     "validationLevel": "strict", "capped": False}}
    )  # fmt: skip
    assert validator == {"$jsonSchema": {"required": ["email"]}}
    assert options == {"validationLevel": "strict", "capped": False}
    assert collection_options({"name": "x", "options": {}}) == (None, {})
