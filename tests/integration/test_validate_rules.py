"""Validation rules on real databases with planted problems, each found by the rule meant for it,
and the harness rule end to end: no in-review after a failed validation, allowed after a pass."""

from __future__ import annotations

import json

import psycopg
import pymongo
import pytest
import yaml

from datamigration.cli import main as cli_main
from datamigration.errors import HarnessRuleError
from datamigration.validate.generate import rules_from_schema
from datamigration.validate.report import validate_file
from datamigration.validate.rules import run_rules
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration

SOURCE_DDL = [
    (
        "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL UNIQUE, "
        "score double precision, created_at timestamptz NOT NULL)"
    ),
    (
        "CREATE TABLE orders (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users(id), "
        "total numeric(10,2))"
    ),
    (
        "INSERT INTO users SELECT g, 'u' || g || '@x.org', 4999.99, "
        "'2024-03-01 10:00:00+00'::timestamptz + g * interval '1 hour' "
        "FROM generate_series(1, 200) g"
    ),
    "INSERT INTO orders SELECT g, 1 + g % 200, g * 1.5 FROM generate_series(1, 400) g",
]
# What a lossy copy tool leaves behind: NOT NULL dropped, an 8-byte float narrowed to 4 bytes,
# no unique constraint and no foreign key.
TARGET_DDL = [
    "CREATE TABLE users (id int PRIMARY KEY, email text, score real, created_at timestamptz)",
    "CREATE TABLE orders (id int PRIMARY KEY, user_id int, total numeric(10,2))",
    (
        "INSERT INTO users SELECT g, 'u' || g || '@x.org', 4999.99, "
        "'2024-03-01 10:00:00+00'::timestamptz + g * interval '1 hour' "
        "FROM generate_series(1, 200) g"
    ),
    "INSERT INTO orders SELECT g, 1 + g % 200, g * 1.5 FROM generate_series(1, 400) g",
]
CLEAN_TARGET_DDL = [s for s in SOURCE_DDL]

PLANTED = [
    "DELETE FROM orders WHERE user_id = 10",
    "DELETE FROM users WHERE id = 10",  # a missing row
    "INSERT INTO users VALUES (500, 'extra@x.org', 1, '2024-01-01')",  # an extra row
    "UPDATE users SET email = 'changed@x.org' WHERE id = 20",  # a changed field
    "UPDATE users SET email = NULL WHERE id = 30",  # NULL in a NOT NULL-mapped column
    "INSERT INTO orders VALUES (9999, 77777, 1)",  # an orphaned child
    "UPDATE users SET created_at = now() + interval '30 days' WHERE id = 40",  # a future date
    "UPDATE users SET email = 'u51@x.org' WHERE id = 50",  # a duplicate
    "UPDATE users SET created_at = created_at - interval '1 hour' WHERE id = 60",  # tz shift
]


def run_sql(url: str, statements: list[str]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for s in statements:
            conn.execute(s)


def rules_doc(src: str, dst: str) -> dict:
    def tgt(rule: dict) -> dict:
        return {"on": "target", **rule}

    return {
        "version": 1,
        "name": "users migration",
        "source": src,
        "target": dst,
        "rules": [
            {"id": "count", "type": "count_match", "table": "users"},
            tgt({"id": "email-not-null", "type": "not_null", "table": "users", "columns": ["email"]}),
            tgt({"id": "orders-fk", "type": "fk_orphans", "table": "orders",
                 "columns": ["user_id"], "ref_table": "users", "ref_columns": ["id"]}),
            tgt({"id": "no-future", "type": "no_future_dates", "table": "users",
                 "columns": ["created_at"]}),
            tgt({"id": "email-unique", "type": "unique", "table": "users", "columns": ["email"]}),
            tgt({"id": "email-shape", "type": "regex", "table": "users", "column": "email",
                 "pattern": "^[a-z0-9]+@x\\.org$"}),
            tgt({"id": "total-range", "type": "range", "table": "orders", "column": "total",
                 "min": 0, "max": 100000}),
            {"id": "schema", "type": "schema_fidelity", "table": "users"},
            {"id": "data", "type": "checksum_diff", "table": "users",
             "columns": ["email", "created_at"]},
            {"id": "data-all", "type": "checksum_diff", "table": "users"},
            {"id": "sample", "type": "sample_compare", "table": "users", "n": 300},
        ],
    }  # fmt: skip


@pytest.fixture
def pair(make_pg_url):
    src, dst = make_pg_url(), make_pg_url()
    run_sql(src, SOURCE_DDL)
    return src, dst


def results_by_id(run) -> dict:
    return {r.id: r for r in run.results}


def test_every_planted_problem_is_found_by_the_rule_meant_for_it(pair):
    src, dst = pair
    run_sql(dst, TARGET_DDL + PLANTED)
    r = results_by_id(run_rules(rules_doc(src, dst)))
    assert r["count"].passed  # one missing and one extra row: counts alone cannot tell
    assert not r["email-not-null"].passed and r["email-not-null"].offending == [30]
    assert not r["orders-fk"].passed and r["orders-fk"].offending == [9999]
    assert not r["no-future"].passed and r["no-future"].offending == [40]
    assert not r["email-unique"].passed and r["email-unique"].offending == ["u51@x.org"]
    assert r["email-shape"].passed and r["total-range"].passed
    schema = " ".join(r["schema"].offending)
    assert "email: NOT NULL dropped" in schema and "created_at: NOT NULL dropped" in schema
    assert "8-byte float narrowed to 4-byte" in schema
    data = r["data"]
    assert {"missing": 10} in data.offending and {"extra": 500} in data.offending
    changed = {json.dumps(o["key"]): o["fields"] for o in data.offending if "key" in o}
    assert changed["20"] == ["email"] and changed["60"] == ["created_at"]
    assert changed["30"] == ["email"] and changed["40"] == ["created_at"]
    assert not r["sample"].passed


def test_the_clean_pair_passes_every_rule(pair):
    src, dst = pair
    run_sql(dst, CLEAN_TARGET_DDL)
    run = run_rules(rules_doc(src, dst))
    assert run.passed, [(x.id, x.message) for x in run.results if not x.passed]


def test_a_narrowed_float_alone_is_a_changed_value_for_the_checksum_diff(pair):
    src, dst = pair
    run_sql(dst, TARGET_DDL)
    r = results_by_id(run_rules(rules_doc(src, dst)))
    assert r["data"].passed  # the columns other than score are equal
    assert not r["data-all"].passed  # 4999.99 reads back as 4999.990234375 in real
    assert r["data-all"].measured == 200
    assert all(o["fields"] == ["score"] for o in r["data-all"].offending)


def test_rules_generated_from_the_schema_cover_counts_not_null_keys_and_dates(pair):
    src, dst = pair
    run_sql(dst, TARGET_DDL + PLANTED)
    doc = rules_from_schema(src, "orders", target_url=dst)
    types = {r["type"] for r in doc["rules"]}
    assert {"count_match", "not_null", "unique", "fk_orphans", "schema_fidelity",
            "checksum_diff"} <= types  # fmt: skip
    users = rules_from_schema(src, "users", target_url=dst)
    run = results_by_id(run_rules(users))
    assert not run["users-not-null"].passed and not run["users-no-future-dates"].passed
    assert not run["users-unique-email"].passed


def test_mongodb_target_rules_and_a_foreign_key_checked_across_databases(pg_url, mongo_url):
    run_sql(pg_url, SOURCE_DDL)
    client = pymongo.MongoClient(mongo_url)
    db = client.get_default_database()
    db.orders.insert_many([{"_id": i, "user_id": 1 + i % 200, "total": 2.5} for i in range(1, 50)])
    db.orders.insert_one({"_id": 1000, "user_id": 4242, "total": None})
    db.orders.insert_one({"_id": 1001, "user_id": 1})  # no total at all: missing counts too
    client.close()
    doc = {
        "source": pg_url,
        "target": mongo_url,
        "rules": [
            {"id": "total-required", "type": "required_fields", "table": "orders",
             "columns": ["total"]},
            {"id": "fk-across", "type": "fk_orphans", "table": "orders", "columns": ["user_id"],
             "ref_table": "users", "ref_columns": ["id"], "on": "target", "ref_on": "source"},
        ],
    }  # fmt: skip
    r = results_by_id(run_rules(doc))
    assert r["total-required"].offending == [1000, 1001]
    assert r["fk-across"].measured == 1 and r["fk-across"].offending == [4242]


def _story(ws_dir) -> Workspace:
    from datamigration.coordination import status

    ws = Workspace.open(str(ws_dir))
    status.new_story(ws, "US-0042", "Migrate users", status="in_progress")
    return ws


def test_a_story_cannot_reach_review_after_a_failed_validation_and_can_after_a_pass(
    pair, workspace_dir
):
    from datamigration.coordination import status

    src, dst = pair
    run_sql(dst, TARGET_DDL + PLANTED)
    ws = _story(workspace_dir)
    (workspace_dir / "rules.yaml").write_text(yaml.safe_dump(rules_doc(src, dst)))
    out = validate_file(ws, "rules.yaml", story="US-0042")
    assert not out["passed"] and out["test_status"] == "failing"
    assert (workspace_dir / out["report_markdown"]).read_text().count("**FAIL**") >= 5
    with pytest.raises(HarnessRuleError):
        status.update_story(ws, "US-0042", status="in_review")
    run_sql(dst, ["DROP TABLE orders", "DROP TABLE users", *CLEAN_TARGET_DDL])
    rc = cli_main(["--workspace", str(workspace_dir), "validate", "rules.yaml",
                   "--story", "US-0042", "--json"])  # fmt: skip
    assert rc == 0
    assert status.get_story(ws, "US-0042")["test_status"] == "passing"
    status.update_story(ws, "US-0042", status="in_review")
    assert status.get_story(ws, "US-0042")["status"] in ("in_review", "in-review")


def test_a_rules_file_with_an_unknown_rule_type_is_refused_with_its_location(workspace_dir):
    (workspace_dir / "bad.yaml").write_text("rules:\n  - type: nope\n    table: t\n")
    rc = cli_main(["--workspace", str(workspace_dir), "validate", "bad.yaml"])
    assert rc != 0
