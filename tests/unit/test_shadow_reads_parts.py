"""Shadow reads without a database: the key sample is spread and repeatable, a queries file
holds plain reads only (each kind of write refused, with its variants), ORDER BY decides how
results compare, values compare by value, and the gate's arithmetic."""

from __future__ import annotations

import pytest

from datamigration.validate.shadow.keys import spread_sample, strata_positions
from datamigration.validate.shadow.queries import (
    QueriesRefusedError,
    cell,
    load_queries,
    read_shape,
)
from datamigration.validate.shadow.tally import Gate, Tally


def test_the_sample_has_one_key_in_each_stratum_and_the_same_seed_draws_the_same_keys():
    picked = strata_positions(100_000, 1000, seed=7)
    assert len(picked) == 1000 and picked == sorted(picked)
    assert all(i * 100 <= p < (i + 1) * 100 for i, p in enumerate(picked))
    assert picked == strata_positions(100_000, 1000, seed=7)
    assert picked != strata_positions(100_000, 1000, seed=8)
    assert strata_positions(5, 10, seed=1) == [0, 1, 2, 3, 4]
    keys = [(k,) for k in range(0, 20_000, 2)]
    sample = spread_sample(iter(keys), len(keys), 10, seed=3)
    assert len(sample) == 10 and sample[0][0] < 2000 and sample[-1][0] >= 18_000


WRITES = [
    "INSERT INTO users VALUES (1)",
    "insert into users select * from users",
    "UPDATE users SET a = 1",
    "DELETE FROM users",
    "WITH d AS (DELETE FROM users RETURNING id) SELECT * FROM d",
    "WITH u AS (UPDATE users SET a = 1 RETURNING id) SELECT count(*) FROM u",
    "SELECT * INTO copy_of_users FROM users",
    "SELECT * FROM users FOR UPDATE",
    "SELECT * FROM users FOR SHARE",
    "CREATE TABLE t AS SELECT * FROM users",
    "DROP TABLE users",
    "TRUNCATE users",
    "ALTER TABLE users ADD COLUMN b int",
    "MERGE INTO users u USING src s ON u.id = s.id WHEN MATCHED THEN DELETE",
    "VACUUM users",
    "COPY users TO '/tmp/x'",
]


@pytest.mark.parametrize("sql", WRITES)
@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_every_kind_of_write_is_not_a_plain_read(sql, dialect):
    ordered, why = read_shape(sql, dialect)
    assert why and not ordered


def test_a_file_with_one_write_among_reads_is_refused_whole_naming_the_line():
    text = "SELECT 1;\n-- a comment; with a semicolon\nSELECT 'a;b';\nDELETE FROM t;\nSELECT 2;"
    with pytest.raises(QueriesRefusedError, match="line 4"):
        load_queries(text, "postgresql", "q.sql")
    got = load_queries("SELECT a FROM t ORDER BY a;\nSELECT 'x;y' FROM t;\n", "postgresql", "q")
    assert got == [("SELECT a FROM t ORDER BY a", True), ("SELECT 'x;y' FROM t", False)]


def test_order_by_only_at_the_top_level_makes_a_result_ordered():
    assert read_shape("SELECT * FROM (SELECT a FROM t ORDER BY a) s", "postgresql") == (False, None)
    assert read_shape("SELECT a FROM t UNION SELECT b FROM u ORDER BY 1", "postgresql")[0]


def test_values_compare_by_value_across_databases():
    assert cell("1.50") == cell(1.5) == cell("1.5") == "1.5"
    assert cell(True) == cell(1) == "1"
    assert cell("2024-05-01T12:00:00+02:00") == cell("2024-05-01T10:00:00")
    assert cell("u1@x.io") == "u1@x.io" and cell(None) is None


def test_the_gate_needs_reads_caps_them_by_what_exists_and_counts_mismatches():
    gate = Gate(max_mismatches=0, min_reads=10_000)
    assert gate.verdict(0, 0, 10)[0] is False  # rows there, none read: proves nothing
    empty, why = gate.verdict(0, 0, 0)
    assert empty and why.startswith("nothing there to read")
    passed, why = gate.verdict(500, 0, 500)
    assert passed and why == "0 mismatch(es) over 500 read(s) (all there were), at most 0 allowed"
    assert gate.verdict(500, 0, 20_000)[0] is False
    assert gate.verdict(10_000, 1, 20_000)[1].startswith("1 mismatch")
    assert Gate(2, 10).verdict(10, 2, 10)[0] is True
    t = Tally()
    for i in range(15):
        t.example("users", i, "api_token", "secret", "other")
    assert len(t.examples) == 10 and t.examples[0]["source"] == "***"


def test_only_a_move_between_systems_gets_the_dual_write_checklist():
    from datamigration.db.model import Column, PrimaryKey, Schema, Table
    from datamigration.plan.planner import Measured, build_plan
    from datamigration.plan.spec import parse_spec

    users = Table(
        name="users",
        columns=(Column("id", "bigint", "int8", nullable=False), Column("email", "text", "text")),
        primary_key=PrimaryKey("users_pkey", ("id",)),
    )
    schema = Schema(dialect="postgresql", database="app", tables=(users,))

    def ids(spec: dict) -> set[str]:
        plan = build_plan(parse_spec(spec), schema, measured=Measured({}, {}, 1.0, "t"),
                          database="app", created_at="2025-01-01T00:00:00Z")  # fmt: skip
        return {c.id for c in plan.checklist}

    moved = ids({"kind": "move_table", "table": "users", "target": "target_db"})
    assert {"dual_write_order", "dual_write_log", "dual_write_reconcile"} <= moved
    renamed = ids({"kind": "rename_column", "table": "users", "column": "email", "new_name": "m"})
    assert not any(i.startswith("dual_write") for i in renamed)
