"""Introspection of a realistic schema on PostgreSQL, MariaDB and SQLite, compared with the
expected model, and the promise that the number of queries does not grow with the tables."""

from __future__ import annotations

import sqlite3
from urllib.parse import urlsplit

import psycopg
import pymysql
import pytest

from datamigration.db import connect
from datamigration.db.model import (
    CheckConstraint,
    Column,
    EnumType,
    ForeignKey,
    PrimaryKey,
    UniqueConstraint,
    schema_from_dict,
)

pytestmark = pytest.mark.integration

PG_SCHEMA = """
CREATE TYPE order_status AS ENUM ('new', 'paid', 'shipped');
CREATE TABLE customers (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email varchar(200) NOT NULL,
  name text,
  balance numeric(12, 2) NOT NULL DEFAULT 0 CONSTRAINT balance_non_negative CHECK (balance >= 0),
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT customers_email_key UNIQUE (email)
);
CREATE TABLE orders (
  id serial PRIMARY KEY,
  customer_id bigint NOT NULL,
  status order_status NOT NULL DEFAULT 'new',
  total numeric(10, 2),
  deleted_at timestamp,
  CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)
    ON DELETE CASCADE ON UPDATE RESTRICT
);
CREATE INDEX orders_open_idx ON orders (customer_id) WHERE deleted_at IS NULL;
CREATE INDEX customers_lower_email_idx ON customers (lower(email));
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch();
ALTER TABLE orders REPLICA IDENTITY FULL;
INSERT INTO customers (email) VALUES ('a@example.com'), ('b@example.com');
INSERT INTO orders (customer_id, total) VALUES (1, 10), (1, 20), (2, 30);
"""


def test_postgres_schema_matches_the_expected_model(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(PG_SCHEMA)
    with connect(pg_url) as db:
        schema = db.inspect(exact_counts=True)
    assert schema.dialect == "postgresql"
    assert [t.qualified_name for t in schema.tables] == ["public.customers", "public.orders"]
    assert schema.enums == (EnumType("order_status", ("new", "paid", "shipped"), "public"),)
    customers, orders = schema.table("customers"), schema.table("public.orders")

    assert customers.column("id") == Column(
        name="id",
        data_type="bigint",
        type_name="bigint",
        nullable=False,
        identity="always",
        ordinal=1,
    )
    assert customers.column("email") == Column(
        name="email",
        data_type="character varying(200)",
        type_name="character varying",
        nullable=False,
        length=200,
        ordinal=2,
    )
    assert customers.column("balance") == Column(
        name="balance",
        data_type="numeric(12,2)",
        type_name="numeric",
        nullable=False,
        default="0",
        precision=12,
        scale=2,
        ordinal=4,
    )
    assert customers.column("created_at").precision == 3
    assert customers.column("created_at").default == "now()"
    assert customers.primary_key == PrimaryKey("customers_pkey", ("id",))
    assert customers.uniques == (UniqueConstraint("customers_email_key", ("email",)),)
    assert customers.checks == (CheckConstraint("balance_non_negative", "balance >= 0::numeric"),)
    lower_idx = next(i for i in customers.indexes if i.name == "customers_lower_email_idx")
    assert lower_idx.columns == ("lower(email::text)",) and lower_idx.method == "btree"

    status = orders.column("status")
    assert status.enum_values == ("new", "paid", "shipped") and status.default.startswith("'new'")
    assert orders.column("id").identity == "serial"
    assert orders.foreign_keys == (
        ForeignKey(
            name="orders_customer_fk",
            columns=("customer_id",),
            ref_table="customers",
            ref_columns=("id",),
            ref_schema="public",
            on_delete="CASCADE",
            on_update="RESTRICT",
        ),
    )
    partial = next(i for i in orders.indexes if i.name == "orders_open_idx")
    assert partial.predicate == "deleted_at IS NULL" and partial.valid and not partial.unique
    assert [(t.name, t.timing, t.events, t.level) for t in orders.triggers] == [
        ("orders_touch", "BEFORE", ("UPDATE",), "ROW")
    ]
    assert orders.replica_identity == "full" and customers.replica_identity == "default"
    assert orders.exact_count == 3 and customers.exact_count == 2
    assert orders.size_bytes > 0 and orders.index_bytes > 0
    assert any(s.owned_by == "orders.id" for s in schema.sequences)
    assert schema_from_dict(schema.to_dict()) == schema


def _pg_tables(url: str, first: int, count: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for i in range(first, first + count):
            conn.execute(
                f"CREATE TABLE t{i} (id int PRIMARY KEY, parent int REFERENCES t{i} (id),"
                f" v text CHECK (v <> ''), w int UNIQUE); CREATE INDEX ON t{i} (v) WHERE w > 0"
            )


def test_postgres_introspection_takes_the_same_number_of_queries_for_any_table_count(pg_url):
    _pg_tables(pg_url, 0, 3)
    with connect(pg_url) as db:
        small = db.inspect()
    _pg_tables(pg_url, 3, 30)
    with connect(pg_url) as db:
        large = db.inspect()
        assert db.query_count == large.query_count
    assert len(small.tables) == 3 and len(large.tables) == 33
    assert small.query_count == large.query_count <= 10


def test_postgres_inspect_can_limit_to_named_tables(pg_url):
    _pg_tables(pg_url, 0, 4)
    with connect(pg_url) as db:
        schema = db.inspect(tables=["t1", "public.t3"])
    assert [t.name for t in schema.tables] == ["t1", "t3"]


# --- MariaDB ----------------------------------------------------------------------------------

MYSQL_SCHEMA = [
    """CREATE TABLE customers (
      id bigint AUTO_INCREMENT PRIMARY KEY,
      email varchar(200) NOT NULL,
      balance decimal(12, 2) NOT NULL DEFAULT 0,
      tier ENUM('free', 'pro') NOT NULL DEFAULT 'free',
      created_at datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      CONSTRAINT customers_email_key UNIQUE (email),
      CONSTRAINT balance_non_negative CHECK (balance >= 0)
    )""",
    """CREATE TABLE orders (
      id int AUTO_INCREMENT PRIMARY KEY,
      customer_id bigint NOT NULL,
      total decimal(10, 2),
      CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)
        ON DELETE CASCADE ON UPDATE RESTRICT,
      INDEX orders_customer_idx (customer_id, total)
    )""",
    "CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW SET NEW.total = NEW.total",
    "INSERT INTO customers (email) VALUES ('a@example.com'), ('b@example.com')",
    "INSERT INTO orders (customer_id, total) VALUES (1, 10), (1, 20), (2, 30)",
]


def _mysql_exec(url: str, statements) -> None:
    parts = urlsplit(url)
    conn = pymysql.connect(
        host=parts.hostname,
        port=parts.port or 3306,
        user=parts.username,
        password="",
        database=parts.path.lstrip("/"),
        autocommit=True,
    )
    with conn, conn.cursor() as cur:
        for stmt in statements:
            cur.execute(stmt)


def test_mariadb_schema_matches_the_expected_model(mysql_url):
    _mysql_exec(mysql_url, MYSQL_SCHEMA)
    with connect(mysql_url) as db:
        schema = db.inspect(exact_counts=True)
    database = urlsplit(mysql_url).path.lstrip("/")
    assert [t.name for t in schema.tables] == ["customers", "orders"]
    customers, orders = schema.table("customers"), schema.table("orders")
    assert customers.column("id").identity == "auto_increment"
    assert customers.column("email") == Column(
        name="email",
        data_type="varchar(200)",
        type_name="varchar",
        nullable=False,
        length=200,
        collation=customers.column("email").collation,
        ordinal=2,
    )
    balance = customers.column("balance")
    assert (balance.precision, balance.scale, balance.nullable) == (12, 2, False)
    assert customers.column("tier").enum_values == ("free", "pro")
    assert customers.column("created_at").precision == 3
    assert customers.primary_key == PrimaryKey("PRIMARY", ("id",))
    assert customers.uniques == (UniqueConstraint("customers_email_key", ("email",)),)
    assert customers.checks == (CheckConstraint("balance_non_negative", "`balance` >= 0"),)
    assert orders.foreign_keys == (
        ForeignKey(
            name="orders_customer_fk",
            columns=("customer_id",),
            ref_table="customers",
            ref_columns=("id",),
            ref_schema=database,
            on_delete="CASCADE",
            on_update="RESTRICT",
        ),
    )
    idx = next(i for i in orders.indexes if i.name == "orders_customer_idx")
    assert idx.columns == ("customer_id", "total") and idx.method == "btree"
    assert [(t.name, t.timing, t.events) for t in orders.triggers] == [
        ("orders_touch", "BEFORE", ("UPDATE",))
    ]
    assert orders.exact_count == 3 and customers.exact_count == 2


def test_mariadb_introspection_takes_the_same_number_of_queries_for_any_table_count(mysql_url):
    def tables(first, count):
        return [
            f"CREATE TABLE t{i} (id int PRIMARY KEY, parent int, v varchar(10),"
            f" FOREIGN KEY (parent) REFERENCES t{i} (id), INDEX (v))"
            for i in range(first, first + count)
        ]

    _mysql_exec(mysql_url, tables(0, 2))
    with connect(mysql_url) as db:
        small = db.inspect()
    _mysql_exec(mysql_url, tables(2, 20))
    with connect(mysql_url) as db:
        large = db.inspect()
    assert len(large.tables) == 22 and small.query_count == large.query_count


# --- SQLite -----------------------------------------------------------------------------------

SQLITE_SCHEMA = """
CREATE TABLE customers (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  email VARCHAR(200) NOT NULL UNIQUE,
  balance DECIMAL(12, 2) NOT NULL DEFAULT 0 CONSTRAINT balance_non_negative CHECK (balance >= 0),
  tier TEXT NOT NULL DEFAULT 'free' CHECK (tier IN ('free', 'pro')),
  email_domain TEXT GENERATED ALWAYS AS (substr(email, instr(email, '@') + 1)) VIRTUAL
);
CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  total NUMERIC(10, 2),
  deleted_at TEXT
);
CREATE INDEX orders_open_idx ON orders (customer_id) WHERE deleted_at IS NULL;
CREATE INDEX customers_lower_email_idx ON customers (lower(email));
CREATE TRIGGER orders_touch AFTER UPDATE ON orders BEGIN SELECT 1; END;
INSERT INTO customers (email) VALUES ('a@example.com'), ('b@example.com');
INSERT INTO orders (customer_id, total) VALUES (1, 10), (1, 20), (2, 30);
"""


def test_sqlite_schema_matches_the_expected_model(sqlite_url):
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as conn:
        conn.executescript(SQLITE_SCHEMA)
    with connect(sqlite_url) as db:
        schema = db.inspect(exact_counts=True)
    assert [t.name for t in schema.tables] == ["customers", "orders"]
    customers, orders = schema.table("customers"), schema.table("orders")
    assert customers.column("id").identity == "autoincrement"
    assert orders.column("id").identity == "rowid"
    assert customers.column("email") == Column(
        name="email",
        data_type="VARCHAR(200)",
        type_name="varchar",
        nullable=False,
        length=200,
        ordinal=2,
    )
    assert customers.column("balance").precision == 12 and customers.column("balance").scale == 2
    assert customers.column("email_domain").generated == "substr(email, instr(email, '@') + 1)"
    assert customers.column("email_domain").generated_stored is False
    assert customers.checks == (
        CheckConstraint("balance_non_negative", "balance >= 0"),
        CheckConstraint(None, "tier IN ('free', 'pro')"),
    )
    assert customers.uniques == (UniqueConstraint(None, ("email",)),)
    assert customers.primary_key == PrimaryKey(None, ("id",))
    assert orders.foreign_keys == (
        ForeignKey(
            name=None,
            columns=("customer_id",),
            ref_table="customers",
            ref_columns=("id",),
            on_delete="CASCADE",
        ),
    )
    partial = next(i for i in orders.indexes if i.name == "orders_open_idx")
    assert partial.predicate == "deleted_at IS NULL" and partial.columns == ("customer_id",)
    expr = next(i for i in customers.indexes if i.name == "customers_lower_email_idx")
    assert expr.columns == ("lower(email)",)
    assert [(t.name, t.timing, t.events) for t in orders.triggers] == [
        ("orders_touch", "AFTER", ("UPDATE",))
    ]
    assert orders.exact_count == 3


def test_sqlite_introspection_takes_the_same_number_of_queries_for_any_table_count(sqlite_url):
    path = sqlite_url.removeprefix("sqlite:///")

    def make(first, count):
        with sqlite3.connect(path) as conn:
            for i in range(first, first + count):
                conn.execute(
                    f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, v TEXT UNIQUE,"
                    f" parent INTEGER REFERENCES t{i} (id))"
                )

    make(0, 2)
    with connect(sqlite_url) as db:
        small = db.inspect()
    make(2, 25)
    with connect(sqlite_url) as db:
        large = db.inspect()
    assert len(large.tables) == 27 and small.query_count == large.query_count
