"""`datamigration demo --db postgresql://...` runs the whole story on a real server, under a
minute, with no failed application operation, and leaves the server as it found it: its own
database (or schema) dropped, existing tables untouched, the password in no output or file."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from datamigration.demo.runner import run_demo as run_demo_in_process
from support import services

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

CLI = str(Path(sys.executable).parent / "datamigration")
SECRET = "dm-Demo:s3cr3t/Pw"  # ':' and '/' must be percent-encoded in a URL
SECRET_IN_URL = "dm-Demo%3As3cr3t%2FPw"
ROLE = f"dm_demo_role_{uuid.uuid4().hex[:8]}"  # unique: parallel runs share the server
ORIGINAL_USERS_COLUMNS = ["id", "email", "full_name", "country", "created_at"]


def run_demo(directory: Path, url: str, *extra: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    proc = subprocess.run(
        [CLI, "demo", "--dir", str(directory), "--db", url, *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc, time.perf_counter() - started


def steps_of(report: dict) -> dict[str, dict]:
    return {s["key"]: s for s in report["steps"]}


def exists_on_server(kind: str, name: str, database_url: str) -> bool:
    sql = (
        "SELECT count(*) FROM pg_database WHERE datname = %s"
        if kind == "database"
        else "SELECT count(*) FROM pg_namespace WHERE nspname = %s"
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(sql, (name,)).fetchone()[0] > 0


def assert_story_done_on_postgres(report: dict) -> dict[str, dict]:
    assert report["ok"] is True
    assert report["dialect"] == "postgresql"
    not_done = {s["key"]: s["summary"] for s in report["steps"] if s["status"] != "done"}
    assert not not_done
    steps = steps_of(report)
    assert {"inspect", "precheck_query", "lint_migration", "live_rename", "live_rollback"} <= set(
        steps
    )
    assert steps["precheck_query"]["data"]["users_without_country"] > 0
    live, rollback = steps["live_rename"]["data"], steps["live_rollback"]["data"]
    assert live["app_ops"] > 50 and live["app_failed"] == 0
    assert live["rows"] == steps["sample_database"]["data"]["users"]
    assert live["rows_differing"] == 0
    assert rollback["app_failed"] == 0 and rollback["app_ops"] > live["app_ops"]
    assert rollback["columns"] == ORIGINAL_USERS_COLUMNS
    assert rollback["old_column_nulls"] == 0
    assert steps["drop_sample_database"]["data"]["remaining"] == 0
    return steps


def test_demo_on_postgresql_creates_its_own_database_runs_every_step_and_drops_it(pg_url, tmp_path):
    proc, seconds = run_demo(tmp_path / "ws", pg_url, "--json")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert seconds < 60
    report = json.loads(proc.stdout)
    steps = assert_story_done_on_postgres(report)
    database = report["database"]
    assert database["kind"] == "database" and database["name"].startswith("dm_demo_")
    assert database["kept"] is False
    assert not exists_on_server("database", database["name"], pg_url)
    # The plan's rename rebuilt the name index CONCURRENTLY under the application's load.
    details = "\n".join(steps["live_rename"]["details"])
    assert "CONCURRENTLY" in details and "batches" in details
    assert "database dm_demo_" in "\n".join(steps["sample_database"]["details"])


@pytest.fixture
def role_without_createdb(pg_url):
    """A password role that may create schemas in the fresh database, but no databases; the
    database already holds a table `users` of the role's own application."""
    parts = urlsplit(pg_url)
    dbname = parts.path.lstrip("/")
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {ROLE} LOGIN NOCREATEDB PASSWORD '{SECRET}'")
        admin.execute(f'GRANT CREATE ON DATABASE "{dbname}" TO {ROLE}')
        admin.execute("CREATE TABLE public.users (id int PRIMARY KEY, full_name text)")
        admin.execute("INSERT INTO public.users VALUES (1, 'existing row')")
        admin.execute(f"GRANT SELECT, UPDATE ON public.users TO {ROLE}")
    try:
        yield f"postgresql://{ROLE}:{SECRET_IN_URL}@{parts.hostname}:{parts.port or 5432}/{dbname}"
    finally:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {ROLE}")
        with psycopg.connect(services.PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP ROLE IF EXISTS {ROLE}")


def assert_no_secret(directory: Path, *texts: str) -> None:
    for text in texts:
        assert SECRET not in text and SECRET_IN_URL not in text
    for path in directory.rglob("*"):
        if path.is_file():
            content = path.read_text(errors="ignore")
            assert SECRET not in content and SECRET_IN_URL not in content, path


def test_demo_without_createdb_uses_a_schema_leaves_other_tables_alone_and_never_shows_the_password(
    role_without_createdb, pg_url, tmp_path
):
    directory = tmp_path / "ws"
    proc, seconds = run_demo(directory, role_without_createdb, "--json")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert seconds < 60
    assert_no_secret(directory, proc.stdout, proc.stderr)
    report = json.loads(proc.stdout)
    assert_story_done_on_postgres(report)
    database = report["database"]
    assert database["kind"] == "schema" and database["name"].startswith("dm_demo_")
    assert "may not CREATE DATABASE" in database["description"]
    assert not exists_on_server("schema", database["name"], pg_url)
    config = (directory / "datamigration.toml").read_text()
    assert "${DATAMIGRATION_DEMO_PASSWORD}" in config and ROLE in config
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT id, full_name FROM public.users").fetchall() == [
            (1, "existing row")
        ]
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}
    assert not any(s.startswith("dm_demo_") for s in schemas)


def test_demo_text_report_on_postgresql_states_where_it_ran_and_hides_the_password(
    role_without_createdb, tmp_path
):
    directory = tmp_path / "ws"
    proc, _ = run_demo(directory, role_without_createdb)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert_no_secret(directory, proc.stdout, proc.stderr)
    assert f"postgresql://{ROLE}:***@" in proc.stdout
    assert "schema dm_demo_" in proc.stdout and "may not CREATE DATABASE" in proc.stdout
    assert "Drop the demo's sample database" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1].startswith("ok:")


def test_demo_with_a_mysql_url_is_refused_with_a_hint_and_creates_nothing(tmp_path):
    directory = tmp_path / "ws"
    proc, _ = run_demo(directory, "mysql://demo:pw-not-shown@127.0.0.1:1/shop")
    assert proc.returncode == 2
    assert "no demo chapter for mysql" in proc.stderr
    assert "hint:" in proc.stderr and "datamigration demo --db postgresql://" in proc.stderr
    assert "Traceback" not in proc.stderr and "pw-not-shown" not in proc.stderr
    assert not directory.exists()


def test_demo_drops_its_database_even_when_a_step_crashes(pg_url, tmp_path):
    created: list[str] = []

    def step_crash(ctx):
        """Crash like a bug would."""
        created.append(ctx.database.name)
        raise RuntimeError("a bug in a step")

    with pytest.raises(RuntimeError, match="a bug in a step"):
        run_demo_in_process(tmp_path / "ws", [step_crash], db=pg_url)
    (name,) = created
    assert name.startswith("dm_demo_")
    assert not exists_on_server("database", name, pg_url)


def test_keep_without_a_database_server_is_refused(tmp_path):
    proc = subprocess.run(
        [CLI, "demo", "--dir", str(tmp_path / "ws"), "--keep"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "--keep applies to --db" in proc.stderr and "hint:" in proc.stderr
    assert not (tmp_path / "ws").exists()
