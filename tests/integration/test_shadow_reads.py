"""Shadow reads on real databases: planted differences are found (exact counts) and an
identical copy shows none; PostgreSQL to MongoDB through a mapping finds a changed embedded
order; a queries file with a write in it runs nothing; a query whose rows differ is reported,
also PostgreSQL against MariaDB; the shadow_traffic plan's step fails on its gate; the top
statements of pg_stat_statements are replayed on a throwaway cluster that preloads it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pymongo
import pytest

from datamigration.db import connect
from datamigration.execute import service
from datamigration.execute.runner import RunOptions
from datamigration.move import CopyRequest, run_copy
from datamigration.plan.planner import Measured, build_plan
from datamigration.plan.spec import parse_spec
from datamigration.plan.store import save_plan
from datamigration.validate.shadow.queries import QueriesRefusedError
from datamigration.validate.shadow.run import ShadowRequest, shadow_reads
from datamigration.validate.shadow.tally import Gate, ShadowReadsFailedError
from datamigration.workspace.root import Workspace
from support import services

pytestmark = pytest.mark.integration

USERS = """
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, n numeric(10,2),
  seen timestamptz NOT NULL, password text);
INSERT INTO users SELECT g, 'u' || g || '@x.io', g / 4.0,
  timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute', 'pw' || g
  FROM generate_series(1, 2000) g;
"""


def run_sql(url: str, sql: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def digest(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT md5(string_agg(u::text, ',' ORDER BY id)) FROM users u"
        ).fetchone()
    return row[0]


@pytest.fixture
def pair(make_pg_url) -> tuple[str, str]:
    src, dst = make_pg_url(), make_pg_url()
    run_sql(src, USERS)
    run_sql(dst, USERS)
    return src, dst


@pytest.fixture
def ws(workspace_dir: Path) -> Workspace:
    return Workspace.open(workspace_dir)


def test_shadow_reads_by_key_find_exactly_the_planted_differences_and_name_them(pair, ws):
    src, dst = pair
    run_sql(dst, "UPDATE users SET email = 'changed' WHERE id IN (7, 1500);"
                 "UPDATE users SET n = n + 1 WHERE id = 999; DELETE FROM users WHERE id = 1234;"
                 "UPDATE users SET password = 'leaked' WHERE id = 42")  # fmt: skip
    r = shadow_reads(ws, ShadowRequest(src, dst, tables=("users",), sample=5000))
    assert (r["reads"], r["mismatches"], r["passed"]) == (2000, 5, False)
    assert r["mismatch_rate"] == 0.0025
    found = {(e["key"], e["column"]): (e["source"], e["target"]) for e in r["examples"]}
    assert found[(7, "email")] == ("u7@x.io", "changed")
    assert found[(1234, "(row)")] == ("present", "missing")
    assert found[(999, "n")] == ("249.75", "250.75")
    assert found[(42, "password")] == ("***", "***")  # a credential column is never shown
    report = (ws.root / r["report_json"]).read_text()
    assert "leaked" not in report and "pw42" not in report
    assert "| users | 2,000 | 5 |" in (ws.root / r["report_markdown"]).read_text()


def test_an_identical_copy_passes_the_gate_and_a_smaller_sample_is_spread_and_repeatable(pair, ws):
    src, dst = pair
    r = shadow_reads(ws, ShadowRequest(src, dst, tables=("users",), gate=Gate(0, 10_000)))
    assert (r["reads"], r["mismatches"], r["passed"]) == (2000, 0, True)
    assert "all there were" in r["verdict"]
    run_sql(dst, "UPDATE users SET email = 'x' WHERE id > 1900")  # the last 100 rows differ
    one = shadow_reads(ws, ShadowRequest(src, dst, tables=("users",), sample=200, seed=5))
    again = shadow_reads(ws, ShadowRequest(src, dst, tables=("users",), sample=200, seed=5))
    assert one["reads"] == 200 and one["examples"] == again["examples"]
    # one key in each stratum of 10 rows: the last 10 strata are the changed rows
    assert one["mismatches"] == 10
    assert min(e["key"] for e in one["examples"]) > 1900


MAPPING = {
    "version": 1,
    "collections": [
        {
            "collection": "customers",
            "root": "users",
            "embed": [{"table": "orders", "kind": "array", "sort": [{"column": "id"}]}],
        }
    ],
}


def test_postgres_to_mongodb_through_a_mapping_finds_a_changed_embedded_order(
    pg_url, mongo_url, workspace_dir, ws
):
    run_sql(pg_url, """
        CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);
        CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users(id),
          total double precision NOT NULL);
        INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 60) g;
        INSERT INTO orders SELECT g, 1 + g % 60, g * 1.25 FROM generate_series(1, 200) g;
    """)  # fmt: skip
    (workspace_dir / "map.json").write_text(__import__("json").dumps(MAPPING))
    copied = run_copy(CopyRequest(pg_url, mongo_url, ("users",), workspace=str(workspace_dir),
                                  mapping=MAPPING, accept_conversions=True))  # fmt: skip
    assert copied["passed"]
    request = ShadowRequest(pg_url, mongo_url, tables=("users",), mapping_file="map.json")
    clean = shadow_reads(ws, request)
    assert (clean["reads"], clean["mismatches"]) == (260, 0)
    with pymongo.MongoClient(mongo_url.rsplit("/", 1)[0]) as client:
        coll = client[mongo_url.rsplit("/", 1)[1]].customers
        doc = coll.find_one({"_id": 6})
        doc["orders"][0]["total"] = 0.5  # the order with id 5 (user 6)
        coll.replace_one({"_id": 6}, doc)
    r = shadow_reads(ws, request)
    assert (r["reads"], r["mismatches"], r["passed"]) == (260, 1, False)
    (e,) = r["examples"]
    assert (e["where"], e["key"], e["column"]) == ("orders -> customers.orders", 5, "total")
    assert (e["source"], e["target"]) == ("6.25", "0.5")


def test_a_queries_file_with_a_write_in_it_runs_nothing(pair, ws):
    src, dst = pair
    before = digest(src), digest(dst)
    (ws.root / "q.sql").write_text(
        "SELECT count(*) FROM users;\n"
        "UPDATE users SET email = 'gone';\n"
        "WITH d AS (DELETE FROM users RETURNING id) SELECT count(*) FROM d;\n"
    )
    with pytest.raises(QueriesRefusedError, match="2 statement") as err:
        shadow_reads(ws, ShadowRequest(src, dst, queries_file="q.sql"))
    assert "line 2" in err.value.message and "line 3" in err.value.message
    assert (digest(src), digest(dst)) == before
    assert not (ws.docs_dir / "validation").exists()


def test_a_query_whose_rows_differ_is_reported_and_an_equal_one_is_not(pair, ws):
    src, dst = pair
    run_sql(dst, "UPDATE users SET email = 'other' WHERE id = 3")
    (ws.root / "q.sql").write_text(
        "-- the application's reads\n"
        "SELECT id, email FROM users WHERE id <= 10 ORDER BY id;\n"
        "SELECT email FROM users WHERE id BETWEEN 1 AND 5;\n"
        "SELECT count(*), sum(n) FROM users;\n"
    )
    r = shadow_reads(ws, ShadowRequest(src, dst, queries_file="q.sql"))
    assert (r["reads"], r["mismatches"], r["passed"]) == (3, 2, False)
    ordered, unordered = r["examples"]
    assert (ordered["key"], ordered["column"]) == ("row 3", "email")
    assert (ordered["source"], ordered["target"]) == ("u3@x.io", "other")
    assert unordered["key"] == "(rows)" and "u3@x.io" in unordered["source"]


def test_queries_compare_postgres_with_mariadb_by_value(pg_url, mysql_url, ws):
    run_sql(pg_url, "CREATE TABLE items (id int PRIMARY KEY, price numeric(8,2), ok boolean, "
                    "at timestamp); INSERT INTO items SELECT g, g * 1.5, g % 2 = 0, "
                    "timestamp '2024-05-01 10:00' + g * interval '1 hour' "
                    "FROM generate_series(1, 50) g")  # fmt: skip
    name = mysql_url.rsplit("/", 1)[1]
    with services._mysql_connect(mysql_url, name) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE items (id int PRIMARY KEY, price decimal(8,2), ok tinyint(1), "
                    "at datetime(6))")  # fmt: skip
        cur.execute("INSERT INTO items SELECT seq, seq * 1.5, seq % 2 = 0, "
                    "TIMESTAMP '2024-05-01 10:00:00' + INTERVAL seq HOUR FROM seq_1_to_50")  # fmt: skip
        cur.execute("UPDATE items SET price = 0 WHERE id = 50")
    (ws.root / "q.sql").write_text(
        "SELECT id, price, ok, at FROM items WHERE id < 50 ORDER BY id;\n"
        "SELECT id, price FROM items WHERE id >= 40;\n"
    )
    r = shadow_reads(ws, ShadowRequest(pg_url, mysql_url, queries_file="q.sql"))
    assert (r["reads"], r["mismatches"]) == (2, 1), r["examples"]
    (e,) = r["examples"]  # the multiset query: the row id 50 differs by its price
    assert '"75"' in e["source"] and '"0"' in e["target"] and '"50"' in e["target"]


@contextlib.contextmanager
def stat_statements_cluster() -> Iterator[str]:
    settings = "-c shared_preload_libraries=pg_stat_statements -c fsync=off"
    with services._throwaway_cluster("PostgreSQL with pg_stat_statements", settings) as (_, port):
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"


def test_the_top_statements_of_pg_stat_statements_are_replayed_and_parameters_skipped(ws):
    with (
        stat_statements_cluster() as admin,
        services.postgres_database(admin) as src,
        services.postgres_database(admin) as dst,
    ):
        run_sql(src, USERS + "CREATE EXTENSION pg_stat_statements;")
        run_sql(dst, USERS + "UPDATE users SET email = 'moved' WHERE id = 2;")
        with psycopg.connect(src, autocommit=True) as app:
            for _ in range(5):
                app.execute("SELECT id, email FROM users ORDER BY id")  # no constant in it
                app.execute("SELECT count(*) FROM users")
                app.execute("SELECT email FROM users WHERE id = %s", (5,))  # kept as $1
        r = shadow_reads(ws, ShadowRequest(src, dst, pg_top=10))
    assert r["mismatches"] == 1 and r["reads"] >= 2
    assert any("$1" in s["what"] and "parameters" in s["why"] for s in r["skipped"])
    assert r["examples"][0]["target"] == "moved"


def test_without_pg_stat_statements_the_report_says_so(pair, ws):
    src, dst = pair
    r = shadow_reads(ws, ShadowRequest(src, dst, tables=("users",), pg_top=5, sample=10))
    assert r["passed"] and any("pg_stat_statements is not available" in n for n in r["notes"])
    alone = shadow_reads(ws, ShadowRequest(src, dst, pg_top=5))  # nothing else was read
    assert (alone["reads"], alone["passed"]) == (0, False)


def test_the_shadow_traffic_step_runs_the_comparison_and_fails_on_its_gate(pg_url, ws):
    run_sql(pg_url, USERS)
    with connect(pg_url, ws) as b:
        schema = b.inspect()
    spec = {"kind": "rename_column", "table": "users", "column": "email",
            "new_name": "email_address", "verify_reads": True}  # fmt: skip
    plan = build_plan(parse_spec(spec), schema, database=pg_url,
                      measured=Measured({"users": 2000}, {}, 50_000.0, "test"))  # fmt: skip
    save_plan(ws, plan)
    shadow = next(s for s in plan.steps if s.operations[0].kind == "shadow_reads")

    def run(step: str) -> dict:
        prepared = service.prepare(ws, plan.id, plan.hash, db=pg_url, step=step,
                                   options=RunOptions())  # fmt: skip
        return service.jsonable_result(prepared.run())

    for s in plan.steps[: plan.steps.index(shadow)]:
        run(s.id)
    run_sql(pg_url, "ALTER TABLE users DISABLE TRIGGER USER;"
                    "UPDATE users SET email_address = 'drifted' WHERE id IN (10, 20);"
                    "ALTER TABLE users ENABLE TRIGGER USER")  # fmt: skip
    with pytest.raises(ShadowReadsFailedError, match="2 mismatch") as err:
        run(shadow.id)
    assert err.value.data["reads"] == 2000 and err.value.data["step"] == shadow.id
    run_sql(pg_url, "UPDATE users SET email_address = email WHERE id IN (10, 20)")
    run(shadow.id)
    (report,) = (ws.docs_dir / "validation").glob("shadow-*.json")
    assert '"passed": true' in report.read_text() and '"reads": 2000' in report.read_text()


def test_old_column_vs_new_column_reads_one_snapshot_while_the_application_writes(pg_url, ws):
    run_sql(pg_url, USERS + """
        ALTER TABLE users ADD COLUMN email_address text;
        UPDATE users SET email_address = email;
        CREATE FUNCTION sync_mail() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.email_address := NEW.email; RETURN NEW; END $$;
        CREATE TRIGGER sync_mail BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION sync_mail();
    """)  # fmt: skip
    stop, writes = threading.Event(), [0]

    def application() -> None:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            while not stop.is_set():
                conn.execute("UPDATE users SET email = md5(random()::text) "
                             "WHERE id = 1 + (random() * 1999)::int")  # fmt: skip
                writes[0] += 1

    writer = threading.Thread(target=application)
    writer.start()
    try:
        request = ShadowRequest(pg_url, pg_url, tables=("users",), target_table="users",
                                columns=("id", "email"), field_map={"email": "email_address"})  # fmt: skip
        runs = [shadow_reads(ws, request) for _ in range(3)]
    finally:
        stop.set()
        writer.join()
    assert writes[0] > 0
    assert [(r["reads"], r["mismatches"]) for r in runs] == [(2000, 0)] * 3
