"""Rollback triggers as the safety engine owns them (safety/triggers.py): what the planner writes
into each step, and what the executor decides after a step's validation.

The plans' hashes and JSON text are pinned: moving the trigger definitions out of the planner
must not change a byte of any plan, or every stored plan would stop matching its hash."""

from __future__ import annotations

import hashlib

import pytest

from datamigration.db.model import Collection, Column, FieldStat, Index, PrimaryKey, Schema, Table
from datamigration.plan.model import Plan, RollbackTrigger
from datamigration.plan.planner import Measured, build_plan
from datamigration.plan.spec import parse_spec
from datamigration.plan.store import plan_json_text
from datamigration.safety.triggers import (
    CHECKSUM_FAILED,
    MONITORING,
    VALIDATION_FAILED,
    WATCHED,
    evaluate,
    step_triggers,
)

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


# --- what the planner writes ------------------------------------------------------------------

NOT_NULL_RULE = {"id": "r1", "type": "not_null", "table": "users", "column": "n"}
CHECKSUM_RULE = {"id": "r2", "type": "checksum_diff", "table": "users"}


def test_every_step_is_watched_for_error_rate_latency_and_lag() -> None:
    assert [t.metric for t in step_triggers(())] == [
        "error_rate",
        "latency_p99_ratio",
        "replication_lag_seconds",
    ]
    assert [t.action for t in step_triggers(())] == ["rollback_step", "rollback_step", "pause"]


def test_a_step_with_rules_rolls_back_on_failure_and_on_a_checksum_diff_when_it_has_one() -> None:
    assert [t.metric for t in step_triggers((NOT_NULL_RULE,))][3:] == ["validation"]
    assert [t.metric for t in step_triggers((NOT_NULL_RULE, CHECKSUM_RULE))][3:] == [
        "validation",
        "checksum",
    ]


def test_the_planner_writes_exactly_the_triggers_of_each_steps_rules() -> None:
    p = plan(RENAME, "postgresql")
    assert all(s.rollback_triggers == step_triggers(s.validation) for s in p.steps)
    assert any(CHECKSUM_FAILED in s.rollback_triggers for s in p.steps)


def test_the_trigger_thresholds_are_the_ones_the_plans_monitoring_block_states() -> None:
    step = plan(RENAME, "postgresql").steps[0]
    limits = {t.metric: t.threshold for t in step.rollback_triggers}
    assert limits["error_rate"] == step.monitoring["error_rate_max"] == 0.01
    assert limits["latency_p99_ratio"] == step.monitoring["latency_p99_max_ratio"] == 2.0
    assert limits["replication_lag_seconds"] == step.monitoring["replication_lag_max_seconds"]
    assert dict(step.monitoring["throttle"]) == MONITORING["throttle"]


# --- what the executor decides ----------------------------------------------------------------

ALL = step_triggers((NOT_NULL_RULE, CHECKSUM_RULE))


def failed(*rules: dict) -> dict:
    return {"passed": not rules, "failed": list(rules)}


def test_a_failed_rule_fires_the_validation_trigger_only() -> None:
    assert evaluate(ALL, validation=failed(NOT_NULL_RULE)) == [VALIDATION_FAILED]


def test_a_failed_checksum_diff_fires_the_validation_and_the_checksum_trigger() -> None:
    assert evaluate(ALL, validation=failed(CHECKSUM_RULE)) == [VALIDATION_FAILED, CHECKSUM_FAILED]


def test_a_passed_validation_fires_nothing() -> None:
    assert evaluate(ALL, validation=failed()) == []


def test_a_failure_fires_whatever_comparison_the_trigger_names() -> None:
    odd = RollbackTrigger("validation", ">", 3, "hand-edited comparison")
    assert evaluate((odd,), validation=failed(NOT_NULL_RULE)) == [odd]


def test_metric_triggers_never_fire_on_a_validation_result_alone() -> None:
    assert evaluate(WATCHED, validation=failed(CHECKSUM_RULE)) == []
    assert evaluate(WATCHED, validation=failed(CHECKSUM_RULE), action="pause") == []


@pytest.mark.parametrize(
    ("metrics", "action", "fired"),
    [
        ({"error_rate": 0.02}, "rollback_step", ["error_rate"]),
        ({"error_rate": 0.01}, "rollback_step", []),
        ({"latency_p99_ratio": 2.5, "error_rate": 0.0}, "rollback_step", ["latency_p99_ratio"]),
        ({"replication_lag_seconds": 31}, "rollback_step", []),
        ({"replication_lag_seconds": 31}, "pause", ["replication_lag_seconds"]),
        ({"replication_lag_seconds": 30}, "pause", []),
        ({"disk_free_ratio": 0.0}, "rollback_step", []),
    ],
)
def test_measured_metrics_fire_the_triggers_whose_threshold_they_cross(
    metrics: dict, action: str, fired: list[str]
) -> None:
    assert [t.metric for t in evaluate(ALL, metrics=metrics, action=action)] == fired


@pytest.mark.parametrize("op", [">=", "==", "<", "failed"])
def test_comparisons_other_than_greater_than_follow_their_operator_or_never_fire(op: str) -> None:
    trigger = RollbackTrigger("error_rate", op, 0.5, "x")
    fires = evaluate((trigger,), metrics={"error_rate": 0.5})
    assert fires == ([trigger] if op in (">=", "==") else [])
