"""The demo on a PostgreSQL server: a throwaway sample database there, the same story on it.

`datamigration demo --db postgresql://...` must never touch what is already on that server. So
the demo creates a database of its own (``dm_demo_<random>``) and drops it at the end; a role
that may not CREATE DATABASE gets a schema of that name inside the URL's database instead, with
the demo's connection pinned to it by ``search_path`` so every unqualified statement (the
sample, the planner's and executor's DDL, the executor's state tables) lands there, and the
schema is dropped with everything in it at the end.

The connection the demo writes into its workspace's datamigration.toml names the password as
``${DATAMIGRATION_DEMO_PASSWORD}``, set in the process environment for the demo's duration, so
no file the demo writes holds it.
"""

from __future__ import annotations

import secrets
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from datamigration import db
from datamigration.db.urls import ConnectionURL
from datamigration.demo import sample, steps
from datamigration.demo.context import DemoContext, Done, Step, StepSkipped
from datamigration.demo.targets import DemoDatabase, DemoTarget
from datamigration.errors import DatabaseError

PREFIX = "dm_demo_"
PASSWORD_ENV = "DATAMIGRATION_DEMO_PASSWORD"
_INSUFFICIENT_PRIVILEGE = "42501"

#: The shop's schema in PostgreSQL's own types. The index on users.full_name (search by name)
#: is what the live chapter's rename rebuilds CONCURRENTLY on the new column.
SCHEMA = (
    """CREATE TABLE users (
    id          bigint      PRIMARY KEY,
    email       text        NOT NULL UNIQUE,
    full_name   text        NOT NULL,
    country     text,
    created_at  timestamptz NOT NULL
)""",
    "CREATE INDEX users_full_name_idx ON users (full_name)",
    """CREATE TABLE orders (
    id           bigint      PRIMARY KEY,
    user_id      bigint      NOT NULL,
    status       text        NOT NULL,
    total_cents  integer     NOT NULL,
    currency     text        NOT NULL,
    created_at   timestamptz NOT NULL
)""",
)


class DemoPrivilegeError(DatabaseError):
    """The role the demo was given can create neither a database nor a schema."""


def provision(server: ConnectionURL) -> DemoDatabase:
    """Create ``dm_demo_<random>`` on the server: a database, else a schema in the URL's one."""
    name = PREFIX + secrets.token_hex(4)
    with db.connect(server.url) as admin:
        try:
            # template0 takes no connections, so another session can never block the copy.
            admin.execute([f"CREATE DATABASE {name} TEMPLATE template0"], autocommit=True)
        except DatabaseError as exc:
            if exc.data.get("sqlstate") != _INSUFFICIENT_PRIVILEGE:
                raise
        else:
            return _database(server, name)
        # No CREATEDB: a schema of our own in the database the URL names.
        where = str(admin.query("SELECT current_database()").rows[0][0])
        try:
            admin.execute([f"CREATE SCHEMA {name}"])
        except DatabaseError as exc:
            if exc.data.get("sqlstate") != _INSUFFICIENT_PRIVILEGE:
                raise
            raise DemoPrivilegeError(
                f"{server.redacted}: this role may neither CREATE DATABASE nor create a schema "
                f"in database {where}",
                hint=f"Grant one of them (ALTER ROLE ... CREATEDB, or GRANT CREATE ON DATABASE "
                f"{where} TO ...), or pass --db with a role that has it; the demo creates only "
                "its own dm_demo_* database or schema and drops it at the end.",
            ) from None
    return _schema(server, name, where)


def _database(server: ConnectionURL, name: str) -> DemoDatabase:
    url = _with(server.url, database=name)
    host = _where(server)
    return DemoDatabase(
        kind="database",
        name=name,
        url=url,
        redacted=server.with_database(name).redacted,
        config_url=_config_url(server, url),
        env=_env(server),
        description=f"database {name} created on {host}",
        server_url=server.url,
    )


def _schema(server: ConnectionURL, name: str, database: str) -> DemoDatabase:
    url = _with(server.url, search_path=name)
    return DemoDatabase(
        kind="schema",
        name=name,
        url=url,
        redacted=_with(server.redacted, search_path=name),
        config_url=_config_url(server, url),
        env=_env(server),
        tables=(f"{name}.users", f"{name}.orders"),
        server_url=server.url,
        description=f"schema {name} created in database {database} on {_where(server)} "
        "(this role may not CREATE DATABASE; nothing outside the schema is touched)",
    )


def _where(server: ConnectionURL) -> str:
    return f"{server.host or 'localhost'}:{server.port or 5432}"


def _with(url: str, *, database: str | None = None, search_path: str | None = None) -> str:
    """The URL with another database or a search_path pinned (password kept as written)."""
    parts = urlsplit(url)
    path = f"/{database}" if database is not None else parts.path
    query = parts.query
    if search_path is not None:
        params = dict(parse_qsl(parts.query))
        options = f"-c search_path={search_path}"
        params["options"] = f"{params['options']} {options}" if "options" in params else options
        query = urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, path, query, parts.fragment))


def _config_url(server: ConnectionURL, url: str) -> str:
    """`url` with its password replaced by a ${VAR} reference, as datamigration.toml keeps it."""
    raw = urlsplit(server.url).password
    if raw is None:
        return url
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    login = user.partition(":")[0]
    netloc = f"{login}:${{{PASSWORD_ENV}}}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _env(server: ConnectionURL) -> dict[str, str]:
    # The password as written in the URL (still percent-encoded): the config's URL is parsed
    # after ${VAR} expansion, which decodes it once, exactly like the URL it came from.
    raw = urlsplit(server.url).password
    return {PASSWORD_ENV: raw} if raw is not None else {}


def step_sample_database(ctx: DemoContext) -> Done:
    """Create the sample shop database (users, orders) on PostgreSQL."""
    database = _demo_database(ctx)
    data = sample.generate()
    with db.connect(ctx.database_url, ctx.workspace) as backend:
        backend.execute(list(SCHEMA) + sample.insert_statements(data))
    ctx.facts["sample"] = data
    fate = "kept at the end (--keep)" if ctx.keep else "dropped at the end (--keep keeps it)"
    details = (
        f"{database.description}; {fate}",
        f'connection "{ctx.connection_name}" = {database.config_url} (datamigration.toml)',
    )
    if database.env:
        details += (f"the password stays in the environment: ${{{PASSWORD_ENV}}}, never a file",)
    return Done(
        f"{len(data.users)} users and {len(data.orders)} orders in {database.kind} {database.name}",
        details=details,
        files=("datamigration.toml",),
        data={
            "users": len(data.users),
            "orders": len(data.orders),
            "kind": database.kind,
            "name": database.name,
        },
    )


def step_drop_sample_database(ctx: DemoContext) -> Done:
    """Drop the demo's sample database from the server."""
    database = _demo_database(ctx)
    drop = (
        f"DROP DATABASE IF EXISTS {database.name} WITH (FORCE)"
        if database.kind == "database"
        else f"DROP SCHEMA IF EXISTS {database.name} CASCADE"
    )
    if ctx.keep:
        raise StepSkipped(f"{database.kind} {database.name} kept (--keep); remove it with: {drop}")
    with db.connect(database.server_url) as admin:
        admin.execute([drop], autocommit=True)
        if database.kind == "database":
            sql = f"SELECT count(*) FROM pg_database WHERE datname = '{database.name}'"
        else:
            sql = f"SELECT count(*) FROM pg_namespace WHERE nspname = '{database.name}'"
        left = int(admin.query(sql).rows[0][0])
    return Done(
        f"{database.kind} {database.name} dropped; the server is as the demo found it",
        details=(drop,),
        data={"kind": database.kind, "name": database.name, "remaining": left},
    )


def _demo_database(ctx: DemoContext) -> DemoDatabase:
    assert ctx.database is not None, "the PostgreSQL demo runs on a provisioned database"
    return ctx.database


def _steps() -> tuple[Step, ...]:
    return tuple(
        step_sample_database if st is steps.step_sample_database else st for st in steps.STEPS
    )


def _cleanup() -> tuple[Step, ...]:
    return (step_drop_sample_database,)


TARGET = DemoTarget(
    dialect="postgresql",
    provision=provision,
    steps=_steps,
    cleanup=_cleanup,
)
