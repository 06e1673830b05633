"""Rollback triggers as the safety engine owns them (safety/triggers.py): what the planner writes
into each step, and what the executor decides after a step's validation.

The plans' hashes and JSON text are pinned: moving the trigger definitions out of the planner
must not change a byte of any plan, or every stored plan would stop matching its hash."""

from __future__ import annotations

import hashlib

import pytest

from datamigration.db.model import Collection, Column, FieldStat, Index, PrimaryKey, Schema, Table
from datamigration.plan.model import Plan
from datamigration.plan.planner import Measured, build_plan
from datamigration.plan.spec import parse_spec
from datamigration.plan.store import plan_json_text

USERS = Table(
    name="users",
    columns=(
        Column("id", "bigint", "int8", nullable=False),
        Column("email", "text", "text", nullable=False),
        Column("n", "integer", "int4"),
    ),
    primary_key=PrimaryKey("users_pkey", ("id",)),
    indexes=(Index("users_email_key", ("email",), unique=True),),
)
PEOPLE = Collection(
    name="users",
    document_count=5000,
    indexes=(Index("_id_", ("_id:1",), unique=True, primary=True),),
    fields=(
        FieldStat("_id", {"objectId": 100}, 100, 1.0),
        FieldStat("full_name", {"string": 100}, 100, 1.0),
    ),
    sampled=100,
)
RENAME = {"kind": "rename_column", "table": "users", "column": "email", "new_name": "email_address"}
NOT_NULL = {"kind": "set_not_null", "table": "users", "column": "n"}
MONGO_RENAME = {"kind": "rename_column", "table": "users", "column": "full_name",
                "new_name": "display_name"}  # fmt: skip


def plan(spec: dict, dialect: str) -> Plan:
    schema = (
        Schema(dialect=dialect, database="app", collections=(PEOPLE,))
        if dialect == "mongodb"
        else Schema(dialect=dialect, database="app", tables=(USERS,))
    )
    return build_plan(
        parse_spec({"batch_size": 1000, **spec}),
        schema,
        measured=Measured({"users": 200_000}, {"users": 50_000_000}, 20_000.0, "test"),
        database="app",
        created_at="2025-01-01T00:00:00Z",
        plan_id="p1",
    )


# (spec, dialect) -> (plan hash, sha256 of the plan JSON text), taken before the move
PINNED = {
    ("rename", "postgresql"): (
        "f7269dba2d9b56cc20da106166de64ed426334fdb61572365cab4ed60b612c60",
        "315d3b74def065caf12a2a414f9170efc0a0fade901f3b6010dd00d48303d7f1",
    ),
    ("rename", "mysql"): (
        "f05d447af664570b40a9ae432b0b27932d786b2fb7580fbe7991d0d3badb7142",
        "db350af0c6848795fc868728a289173d6f71af3ee9b5570a2b130c02c8a11846",
    ),
    ("rename", "sqlite"): (
        "c385911147117c0334dcd057753e11f7f7506052995d7f8a335cddf38ae6d2d8",
        "6037d466debc48d31f5ed2daffc0217c42b9fbc7809a0c4d640c878ecebb02b9",
    ),
    ("not_null", "postgresql"): (
        "71d7dee6d25e03ef5a0851a26101c27cdb5c64c6025e344ad8863b640069eda0",
        "1f66ad30f794dd24b64ec42a97408d97abc1196e4a92e26c9ff4bd81fc665869",
    ),
    ("not_null", "mysql"): (
        "c5d0312303bebd343c66f966d30a7418bcf268a9f423e0acd11bd85e07f48c6d",
        "85f17a421ad9788b54d3e930488217211bcbb41c894899906979d207cc1bd22c",
    ),
    ("mongo_rename", "mongodb"): (
        "4d53ca457d061496fb5b60e751cacb5b935fed2f720e73ad744a434055936f8a",
        "d785b1ee8be25ea8389a47eb3b0ac325e04f20aade66c01cfd40ce2a2c7c2362",
    ),
}
SPECS = {"rename": RENAME, "not_null": NOT_NULL, "mongo_rename": MONGO_RENAME}


@pytest.mark.parametrize("key", sorted(PINNED), ids=lambda k: "-".join(k))
def test_plans_keep_their_hash_and_their_json_text_byte_for_byte(key: tuple[str, str]) -> None:
    p = plan(SPECS[key[0]], key[1])
    text = plan_json_text(p)
    assert (p.hash, hashlib.sha256(text.encode("utf-8")).hexdigest()) == PINNED[key]
