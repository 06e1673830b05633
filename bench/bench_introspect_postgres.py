"""Our PostgreSQL introspection against `pg_dump --schema-only`, on the same database, same run.

Builds a throwaway database of 500 tables (10 columns, 2 secondary indexes, 1 foreign key each;
50 with --quick), then times `connect(url).inspect()` (a fresh connection each time, as a CLI
call would do) and `pg_dump --schema-only` of the same database, and counts the queries our
introspection issued (it must not grow with the number of tables).

    .venv/bin/python bench/bench_introspect_postgres.py [--quick] [--repeats N] [--json]
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg
from _runner import Figure, bench_args, report, time_callable, time_command, which

from datamigration.db import connect

ADMIN_URL = os.environ.get("DATAMIGRATION_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def build_schema(url: str, tables: int) -> None:
    ddl = []
    for i in range(tables):
        parent = f"t{i - 1}" if i else None
        ddl.append(
            f"CREATE TABLE t{i} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            f" parent_id bigint{f' REFERENCES {parent} (id)' if parent else ''},"
            " name varchar(100) NOT NULL, email text, amount numeric(12, 2) DEFAULT 0,"
            " created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz,"
            " status smallint NOT NULL DEFAULT 0, note text, flags int)"
        )
        if parent is None:
            # the first table still gets one foreign key, to itself
            ddl.append(f"ALTER TABLE t{i} ADD FOREIGN KEY (parent_id) REFERENCES t{i} (id)")
        ddl.append(f"CREATE INDEX t{i}_name ON t{i} (name)")
        ddl.append(f"CREATE INDEX t{i}_open ON t{i} (created_at) WHERE updated_at IS NULL")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(";".join(ddl))
        conn.execute("ANALYZE")


def main() -> int:
    args = bench_args("PostgreSQL introspection vs pg_dump --schema-only")
    n_tables = 50 if args.quick else 500
    name = f"dmbench_{uuid.uuid4().hex[:8]}"
    base = ADMIN_URL.rpartition("/")[0]
    url = f"{base}/{name}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        build_schema(url, n_tables)
        result: dict[str, int] = {}

        def ours() -> None:
            with connect(url) as db:
                schema = db.inspect()
            result["tables"] = len(schema.tables)
            result["queries"] = schema.query_count
            result["indexes"] = sum(len(t.indexes) for t in schema.tables)
            result["fks"] = sum(len(t.foreign_keys) for t in schema.tables)

        mine = time_callable(ours, repeats=args.repeats)
        assert result["tables"] == n_tables, result
        pg_dump = which("pg_dump")
        anchor = None
        if pg_dump:
            anchor = time_command(
                [pg_dump, "--schema-only", "-f", os.devnull, url], repeats=args.repeats
            )
        print(
            f"introspected {result['tables']} tables, {result['indexes']} indexes, "
            f"{result['fks']} foreign keys with {result['queries']} queries"
        )
        return report(
            "introspect_postgres",
            [
                Figure(
                    f"inspect {n_tables} tables",
                    mine.median,
                    anchor.median if anchor else None,
                    "s",
                    note="" if pg_dump else "pg_dump not found on PATH",
                ),
                Figure(
                    "queries per inspect",
                    float(result["queries"]),
                    None,
                    "queries",
                    note="fixed, whatever the table count",
                ),
            ],
            args,
            extra={"tables": n_tables, "queries": result["queries"]},
        )
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    raise SystemExit(main())
