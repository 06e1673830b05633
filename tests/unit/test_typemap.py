"""Type map: lossless choices, honest losses, and the schema-fidelity equivalence check."""

from __future__ import annotations

from pathlib import Path

import pytest

from datamigration.db.model import Column, FieldStat
from datamigration.errors import UserInputError
from datamigration.typemap import ColumnType, common_bson_type, equivalent, map_type
from datamigration.typemap.docs import REFERENCE_TYPES, reference_rows, render_markdown

C = ColumnType
DOC = Path(__file__).resolve().parents[2] / "docs" / "type-mapping.md"


# --- the guarantees named by the issue ----------------------------------------------------


def test_sqlite_real_maps_to_an_8_byte_float_everywhere_unlike_pgloader():
    src = C("sqlite", "REAL", nullable=False)
    assert map_type(src, "postgresql").target.name == "double precision"
    assert map_type(src, "mysql").target.name == "DOUBLE"
    assert map_type(src, "mongodb").target.name == "double"
    assert all(map_type(src, d).lossless for d in ("postgresql", "mysql", "mongodb"))


def test_pgloaders_real_to_4_byte_real_is_flagged_lossy():
    verdict = equivalent(C("sqlite", "REAL"), C("postgresql", "real"))
    assert not verdict.ok
    assert "8-byte float narrowed to 4-byte float" in verdict.reason


def test_pgloaders_dropped_not_null_is_flagged():
    ok, reason = equivalent(C("sqlite", "TEXT", nullable=False), C("postgresql", "text"))
    assert not ok and "NOT NULL dropped" in reason


def test_a_nullable_source_into_a_not_null_target_is_a_difference():
    ok, reason = equivalent(C("postgresql", "text"), C("mysql", "LONGTEXT", nullable=False))
    assert not ok and "NOT NULL" in reason


def test_pgloaders_timestamps_kept_as_text_are_flagged():
    ok, reason = equivalent(C("sqlite", "DATETIME"), C("postgresql", "text"))
    assert not ok and "kept as text" in reason


@pytest.mark.parametrize("target", ["postgresql", "mysql", "sqlite", "mongodb"])
def test_not_null_survives_every_mapping(target):
    mapping = map_type(C("postgresql", "integer", nullable=False), target)
    assert mapping.target.nullable is False
    assert mapping.lossless


def test_mongodb_enforces_not_null_through_the_validator_fragment():
    mapping = map_type(C("postgresql", "bigint", nullable=False), "mongodb")
    assert mapping.json_schema() == {"bsonType": "long"}
    assert any("$jsonSchema" in n for n in mapping.notes)
    nullable = map_type(C("postgresql", "bigint"), "mongodb")
    assert nullable.json_schema() == {"bsonType": ["long", "null"]}


def test_enum_labels_become_a_validator_enum_in_mongodb():
    mapping = map_type(C("mysql", "enum('small','Large')", nullable=False), "mongodb")
    assert mapping.json_schema() == {"bsonType": "string", "enum": ["small", "Large"]}


def test_double_is_equivalent_across_all_four_databases():
    doubles = [
        C("postgresql", "double precision"),
        C("postgresql", "float8"),
        C("mysql", "DOUBLE"),
        C("sqlite", "REAL"),
        C("mongodb", "double"),
    ]
    for a in doubles:
        for b in doubles:
            assert equivalent(a, b).ok, (a, b)


def test_real_is_not_equivalent_to_double_but_widens_into_it():
    assert not equivalent(C("postgresql", "double precision"), C("postgresql", "real")).ok
    ok, reason = equivalent(C("postgresql", "real"), C("postgresql", "double precision"))
    assert ok and "widened" in reason


def test_timestamptz_and_timestamp_differ_in_both_directions():
    tz, naive = C("postgresql", "timestamp with time zone"), C("postgresql", "timestamp")
    assert not equivalent(tz, naive).ok
    ok, reason = equivalent(naive, tz)
    assert not ok and "time zone" in reason


def test_timestamp_precision_is_kept_and_checked():
    assert map_type(C("postgresql", "timestamp(3)"), "mysql").target.name == "DATETIME(3)"
    ok, reason = equivalent(C("postgresql", "timestamptz"), C("mongodb", "date"))
    assert not ok and "fractional seconds" in reason
    assert equivalent(C("postgresql", "timestamptz(3)"), C("mongodb", "date")).ok


def test_timestamptz_has_no_lossless_mysql_target_and_says_why():
    mapping = map_type(C("postgresql", "timestamptz"), "mysql")
    assert mapping.target.name == "DATETIME(6)"
    assert not mapping.lossless and "time zone" in mapping.reason


def test_mysql_timestamp_is_an_instant_and_maps_to_timestamptz():
    mapping = map_type(C("mysql", "timestamp(6)"), "postgresql")
    assert mapping.target.name == "timestamp(6) with time zone" and mapping.lossless
    ok, reason = equivalent(C("postgresql", "timestamptz"), C("mysql", "timestamp(6)"))
    assert not ok and "2038" in reason


def test_numeric_widening_is_fine_one_way_only():
    assert equivalent(C("postgresql", "numeric(10,2)"), C("postgresql", "numeric(12,2)")).ok
    ok, reason = equivalent(C("postgresql", "numeric(12,2)"), C("postgresql", "numeric(10,2)"))
    assert not ok and "integer digits" in reason
    ok, reason = equivalent(C("postgresql", "numeric(10,3)"), C("postgresql", "numeric(12,2)"))
    assert not ok and "scale" in reason


def test_numeric_precision_and_scale_are_kept():
    src = C("postgresql", "numeric", precision=12, scale=4)
    assert map_type(src, "mysql").target.name == "DECIMAL(12,4)"
    assert map_type(src, "sqlite").target.name == "NUMERIC(12,4)"
    assert map_type(src, "mongodb").target.name == "decimal"
    assert all(map_type(src, d).lossless for d in ("mysql", "sqlite", "mongodb"))


def test_unbounded_numeric_has_no_lossless_mysql_or_bson_target():
    for target in ("mysql", "mongodb"):
        mapping = map_type(C("postgresql", "numeric"), target)
        assert not mapping.lossless and mapping.reason


@pytest.mark.parametrize(
    ("source", "pg"),
    [
        ("tinyint", "smallint"),
        ("smallint", "smallint"),
        ("mediumint", "integer"),
        ("int", "integer"),
        ("int(10) unsigned", "bigint"),
        ("bigint", "bigint"),
        ("bigint unsigned", "numeric(20,0)"),
    ],
)
def test_every_mysql_integer_width_gets_a_postgres_type_that_holds_its_range(source, pg):
    mapping = map_type(C("mysql", source), "postgresql")
    assert mapping.target.name == pg and mapping.lossless


def test_narrowing_an_integer_is_refused_with_the_range():
    ok, reason = equivalent(C("postgresql", "bigint"), C("mysql", "INT"))
    assert not ok and "9223372036854775807" in reason


def test_sqlite_integer_is_64_bit():
    assert map_type(C("sqlite", "INTEGER"), "postgresql").target.name == "bigint"
    assert not equivalent(C("sqlite", "INTEGER"), C("postgresql", "integer")).ok


def test_bson_int_and_long_keep_their_widths():
    assert map_type(C("mongodb", "int"), "postgresql").target.name == "integer"
    assert map_type(C("mongodb", "long"), "postgresql").target.name == "bigint"
    assert not equivalent(C("mongodb", "long"), C("mongodb", "int")).ok


def test_serial_keeps_its_identity_flag_and_warns_for_mongodb():
    src = C("postgresql", "bigserial", nullable=False, identity=True)
    assert map_type(src, "mysql").target.identity
    mongo = map_type(src, "mongodb")
    assert mongo.target.name == "long" and any("auto-increment" in n for n in mongo.notes)


def test_text_lengths_are_kept_and_narrowing_is_refused():
    assert map_type(C("postgresql", "varchar(50)"), "mysql").target.name == "VARCHAR(50)"
    assert map_type(C("postgresql", "char(2)"), "mysql").target.name == "CHAR(2)"
    assert map_type(C("postgresql", "text"), "mysql").target.name == "LONGTEXT"
    assert equivalent(C("postgresql", "varchar(50)"), C("mysql", "VARCHAR(80)")).ok
    assert not equivalent(C("postgresql", "text"), C("mysql", "VARCHAR(255)")).ok
    assert not equivalent(C("postgresql", "text"), C("mysql", "TEXT")).ok  # 64 KiB limit


def test_bytea_maps_to_blob_and_bindata():
    assert map_type(C("postgresql", "bytea"), "mysql").target.name == "LONGBLOB"
    assert map_type(C("postgresql", "bytea"), "mongodb").target.name == "binData"


def test_booleans_and_mysql_tinyint1():
    assert equivalent(C("postgresql", "boolean"), C("mysql", "BOOLEAN")).ok
    assert equivalent(C("postgresql", "boolean"), C("mysql", "tinyint(1)")).ok
    ok, reason = equivalent(C("mysql", "tinyint(1)"), C("postgresql", "boolean"))
    assert ok and "0 and 1" in reason
    assert not equivalent(C("mysql", "tinyint"), C("postgresql", "boolean")).ok


def test_uuid_json_network_and_enum_types():
    assert map_type(C("postgresql", "uuid"), "mysql").target.name == "CHAR(36)"
    assert equivalent(C("postgresql", "uuid"), C("mysql", "CHAR(36)")).ok
    assert not equivalent(C("postgresql", "uuid"), C("mysql", "CHAR(32)")).ok
    assert map_type(C("postgresql", "jsonb"), "mysql").target.name == "JSON"
    assert map_type(C("postgresql", "json"), "mongodb").target.name == "object"
    assert map_type(C("postgresql", "inet"), "mysql").lossless
    assert map_type(C("postgresql", "cidr"), "sqlite").target.name == "TEXT"
    mapping = map_type(C("postgresql", "mood", enum_values=("sad", "ok")), "mysql")
    assert mapping.target.name == "ENUM('sad','ok')" and mapping.lossless
    ok, reason = equivalent(
        C("postgresql", "mood", enum_values=("sad", "ok", "happy")),
        C("mysql", "enum('sad','ok')"),
    )
    assert not ok and "happy" in reason


def test_interval_has_no_lossless_target_outside_postgres():
    for target in ("mysql", "sqlite", "mongodb"):
        mapping = map_type(C("postgresql", "interval"), target)
        assert not mapping.lossless and "text" in mapping.reason
    assert map_type(C("postgresql", "interval"), "postgresql").lossless


def test_postgres_arrays():
    src = C("postgresql", "integer[]")
    assert map_type(src, "postgresql").target.name == "integer[]"
    assert map_type(src, "mysql").target.name == "JSON" and map_type(src, "mysql").lossless
    mongo = map_type(src, "mongodb")
    assert mongo.target.name == "array" and mongo.target.element.name == "int"
    internal = C("postgresql", "_int4").logical()
    assert (internal.kind, internal.element.kind, internal.element.bits) == ("array", "int", 32)
    lossy = map_type(C("postgresql", "timestamptz[]"), "mysql")
    assert not lossy.lossless and "element" in lossy.reason
    assert not equivalent(C("postgresql", "bigint[]"), C("postgresql", "integer[]")).ok


def test_bson_types_map_to_sql():
    expected = {
        "objectId": "character(24)",
        "decimal": "numeric",
        "date": "timestamp(3) with time zone",
        "long": "bigint",
        "int": "integer",
        "double": "double precision",
        "string": "text",
        "bool": "boolean",
        "binData": "bytea",
        "object": "jsonb",
        "array": "jsonb",
    }
    for bson, pg in expected.items():
        mapping = map_type(C("mongodb", bson), "postgresql")
        assert (mapping.target.name, mapping.lossless) == (pg, True), bson
    assert C("mongodb", "decimal128").logical() == C("mongodb", "decimal").logical()


def test_mixed_bson_field_maps_lossy_except_to_untyped_targets():
    assert not map_type(C("mongodb", "mixed"), "postgresql").lossless
    assert map_type(C("mongodb", "mixed"), "sqlite").lossless


def test_common_bson_type_of_mixed_numeric_fields():
    assert common_bson_type(["int", "long"]) == ("long", "")
    assert common_bson_type(["int", "double", "null"]) == ("double", "")
    assert common_bson_type(["long", "double"])[0] == "decimal"
    assert common_bson_type(["string"]) == ("string", "")
    typ, reason = common_bson_type({"int": 3, "string": 1})
    assert typ is None and "int, string" in reason


def test_a_model_column_and_a_sampled_field_can_be_mapped():
    col = Column(name="price", data_type="numeric(10,2)", type_name="numeric", nullable=False,
                 precision=10, scale=2)  # fmt: skip
    mapping = map_type(col, "mysql", source_dialect="postgresql")
    assert mapping.target.name == "DECIMAL(10,2)" and not mapping.target.nullable
    stat = FieldStat(path="age", types={"int": 8, "long": 2}, count=10, frequency=1.0)
    t = ColumnType.from_field(stat, sampled=10)
    assert (t.name, t.nullable) == ("long", False)
    half = FieldStat(path="nick", types={"string": 5}, count=5, frequency=0.5)
    assert ColumnType.from_field(half, sampled=10).nullable


def test_a_model_column_without_a_dialect_is_refused_with_a_hint():
    col = Column(name="x", data_type="integer", type_name="integer")
    with pytest.raises(UserInputError) as err:
        map_type(col, "mysql")
    assert err.value.hint


def test_an_unknown_dialect_is_refused():
    with pytest.raises(UserInputError):
        C("oracle", "number")


def test_every_reference_mapping_of_a_type_to_its_own_dialect_is_lossless():
    for row in reference_rows():
        own = next(m for m in row.mappings if m.target.dialect == row.source.dialect)
        assert own.lossless, (row.source, own.reason)


def test_every_lossy_mapping_says_why():
    for row in reference_rows():
        for m in row.mappings:
            assert m.lossless or m.reason, m


def test_the_type_mapping_page_documents_every_mapping_entry():
    text = DOC.read_text(encoding="utf-8")
    assert text == render_markdown(), "regenerate: python -m datamigration.typemap.docs"
    for dialect, spelling, _ in REFERENCE_TYPES:
        assert f"`{spelling}" in text or spelling == "", (dialect, spelling)
