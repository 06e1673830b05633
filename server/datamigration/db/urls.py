"""Connection URLs: parse them, resolve workspace names, expand ${VARS}, never show a password.

A caller names a database either by URL (``postgresql://u:pw@host/db``, ``mysql://``,
``mariadb://``, ``sqlite:///path``, ``mongodb://``) or by a name from the workspace config::

    [connections]
    app = "postgresql://app:${PGPASSWORD}@db/app"
    # or a table, for per-connection options:
    [connections.reporting]
    url = "postgresql://ro@db/app"
    statement_timeout_ms = 5000

``${VAR}`` references are expanded from the environment at resolve time, so no secret has to sit
in a file. MongoDB URLs may name several hosts (a replica set's seed list,
``mongodb://h1:27017,h2:27017/db?replicaSet=rs``); `hosts` keeps them all, `host`/`port` name the
first. Every resolved password is registered with `datamigration.redact` so that any text
that later passes through `redact_text` (CLI, MCP, logs, errors) shows ``***`` instead.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from datamigration.errors import NotFoundError, UserInputError
from datamigration.redact import is_secret_name, is_secret_param, redact_url, register_secret

#: URL scheme -> dialect name used across the product.
SCHEMES: dict[str, str] = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "postgresql+psycopg": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "mysql+pymysql": "mysql",
    "mariadb+pymysql": "mysql",
    "sqlite": "sqlite",
    "mongodb": "mongodb",
    "mongodb+srv": "mongodb",
}

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class ConnectionURL:
    """A parsed connection URL. `url` holds the secret; show only `redacted`.

    `repr` is redacted too, so a ConnectionURL in a log line or a traceback leaks nothing.
    """

    url: str = field(repr=False)
    scheme: str
    dialect: str
    redacted: str
    name: str | None = None  # the workspace connection name, when resolved from config
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    database: str | None = None  # for SQLite: the file path
    params: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)  # per-connection config options
    #: every (host, port) of the URL in order; one entry unless a MongoDB seed list
    hosts: tuple[tuple[str, int | None], ...] = ()

    def __str__(self) -> str:
        return self.redacted

    @property
    def label(self) -> str:
        """How to name this database to a person: the config name, else the redacted URL."""
        return f"{self.name} ({self.redacted})" if self.name else self.redacted

    def with_database(self, database: str) -> ConnectionURL:
        """The same server with another database (e.g. to suggest or reach a sibling)."""
        base, _, _ = self.url.partition("?")
        head, _, _ = base.rpartition("/")
        query = self.url.partition("?")[2]
        return parse_url(f"{head}/{database}" + (f"?{query}" if query else ""), name=None)


def expand_env(text: str, environ: Mapping[str, str] | None = None, *, where: str = "") -> str:
    """Replace ${VAR} with its environment value; a missing variable is a clear user error."""
    env = os.environ if environ is None else environ

    def sub(m: re.Match[str]) -> str:
        var = m.group(1)
        if var not in env:
            raise UserInputError(
                f"environment variable {var} is not set{f' (needed by {where})' if where else ''}",
                hint=f"export {var}=... before running, or change the connection in "
                "datamigration.toml",
                variable=var,
            )
        return env[var]

    return _ENV_REF.sub(sub, text)


def parse_url(url: str, *, name: str | None = None, options: Mapping[str, Any] | None = None):
    """Parse a URL whose ${VARS} are already expanded; register its password as a secret."""
    text = url.strip()
    if "://" not in text:
        raise UserInputError(
            f"not a database URL: {redact_url(text)!r}",
            hint="Use postgresql://, mysql://, mariadb://, sqlite:///path or mongodb://, or a "
            "name from [connections] in datamigration.toml.",
        )
    scheme = text.split("://", 1)[0].lower()
    dialect = SCHEMES.get(scheme)
    if dialect is None:
        raise UserInputError(
            f"unsupported database URL scheme {scheme!r}",
            hint="Supported schemes: " + ", ".join(sorted(SCHEMES)),
            scheme=scheme,
        )
    if dialect == "sqlite":
        path = text.split("://", 1)[1]
        path, _, query = path.partition("?")
        # SQLAlchemy's convention: sqlite:///relative.db, sqlite:////absolute/path.db.
        path = path.removeprefix("/")
        return ConnectionURL(
            url=text,
            scheme=scheme,
            dialect=dialect,
            redacted=text,
            name=name,
            database=unquote(path) or ":memory:",
            params=dict(parse_qsl(query)),
            options=dict(options or {}),
        )
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise _malformed(text, exc) from None
    # Register the password before anything can fail, so no later message can show it.
    password = unquote(parts.password) if parts.password is not None else None
    register_secret(password)
    register_secret(parts.password)
    for key, value in parse_qsl(parts.query):
        if is_secret_param(key):
            register_secret(value)
    hosts = _hosts(text, parts.netloc.rpartition("@")[2], dialect, scheme)
    database = unquote(parts.path.lstrip("/")) or None
    return ConnectionURL(
        url=text,
        scheme=scheme,
        dialect=dialect,
        redacted=redact_url(text),
        name=name,
        username=unquote(parts.username) if parts.username else None,
        password=password,
        host=hosts[0][0] if hosts else None,
        port=hosts[0][1] if hosts else None,
        database=database,
        params=dict(parse_qsl(parts.query)),
        options=dict(options or {}),
        hosts=hosts,
    )


def _malformed(text: str, problem: object) -> UserInputError:
    return UserInputError(
        f"malformed database URL {redact_url(text)!r}: {problem}",
        hint="Check the host and port; percent-encode special characters in the password.",
    )


def _hosts(
    text: str, hostlist: str, dialect: str, scheme: str
) -> tuple[tuple[str, int | None], ...]:
    """The URL's (host, port) pairs. Only MongoDB takes a comma-separated seed list."""
    if not hostlist:
        return ()
    items = hostlist.split(",")
    if len(items) > 1 and dialect != "mongodb":
        raise UserInputError(
            f"{scheme}:// URLs take one host, not {len(items)}: {redact_url(text)!r}",
            hint="Name one host (several hosts are a MongoDB seed list: mongodb://h1,h2/db).",
        )
    if len(items) > 1 and scheme == "mongodb+srv":
        raise UserInputError(
            f"mongodb+srv:// takes exactly one host name (the SRV record): {redact_url(text)!r}",
            hint="Use mongodb://h1:27017,h2:27017/db for an explicit seed list.",
        )
    out = []
    for item in items:
        try:
            probe = urlsplit(f"//{item}")
            host, port = probe.hostname, probe.port
        except ValueError as exc:
            raise _malformed(text, exc) from None
        if not host:
            raise _malformed(text, f"empty host in {item!r}")
        out.append((host, port))
    return tuple(out)


def file_reference(
    url_or_name: str, workspace: Any | None = None, *, password_var: str, environ=None
) -> tuple[str, str | None]:
    """How a file we write names a database: never with its password.

    A connection name stays a name (datamigration.toml holds the URL). A URL that is the URL of
    a configured connection becomes that connection's name. Any other URL keeps everything but
    its password, which becomes a ``${password_var}`` reference, expanded from the environment
    when the file is used, as datamigration.toml keeps passwords (and the demo writes
    ``${DATAMIGRATION_DEMO_PASSWORD}``). Secret query parameters (``?password=``) are treated
    the same. Returns the text and `password_var` when the reader must set it, else None.
    """
    text = url_or_name.strip()
    if "://" not in text:
        return text, None
    name = _configured_name_of(text, workspace, environ)
    if name is not None:
        return name, None
    return _password_as_reference(text, password_var)


def _configured_name_of(text: str, workspace: Any | None, environ=None) -> str | None:
    """The name under [connections] whose URL is `text` (after ${VAR} expansion), if any."""
    try:
        wanted = expand_env(text, environ)
        entries = configured_connections(workspace)
    except UserInputError:
        return None
    for name, entry in sorted(entries.items()):
        try:
            raw, _ = _entry_url(name, entry)
            if expand_env(raw, environ) == wanted:
                return name
        except UserInputError:
            continue
    return None


def _password_as_reference(text: str, var: str) -> tuple[str, str | None]:
    """`text` with its password and secret query values replaced by ``${var}``."""
    if SCHEMES.get(text.split("://", 1)[0].lower()) == "sqlite":
        return text, None
    parts = urlsplit(text)
    ref = f"${{{var}}}"
    used = False
    userinfo, at, hosts = parts.netloc.rpartition("@")
    netloc = parts.netloc
    if at and ":" in userinfo:
        user, _, password = userinfo.partition(":")
        if not _ENV_REF.fullmatch(password):
            netloc, used = f"{user}:{ref}@{hosts}", True
    pieces = []
    for piece in parts.query.split("&") if parts.query else []:
        key, eq, value = piece.partition("=")
        if eq and is_secret_param(unquote(key)) and not _ENV_REF.fullmatch(value):
            piece, used = f"{key}={ref}", True
        pieces.append(piece)
    if not used:
        return text, None
    return urlunsplit((parts.scheme, netloc, parts.path, "&".join(pieces), parts.fragment)), var


def configured_connections(workspace: Any | None) -> dict[str, Any]:
    """The raw `[connections]` table of the workspace config (values unexpanded)."""
    if workspace is None:
        return {}
    config = getattr(workspace, "config", None) or {}
    conns = config.get("connections") or {}
    if not isinstance(conns, Mapping):
        raise UserInputError(
            "[connections] in datamigration.toml must be a table of name = URL entries",
            hint='Write e.g. [connections]\napp = "postgresql://app:${PGPASSWORD}@db/app"',
        )
    return dict(conns)


def _entry_url(name: str, entry: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, Mapping) and isinstance(entry.get("url"), str):
        return entry["url"], {k: v for k, v in entry.items() if k != "url"}
    raise UserInputError(
        f"connection {name!r} in datamigration.toml has no URL",
        hint=f'Write {name} = "postgresql://..." or [connections.{name}] with url = "..."',
    )


def resolve(url_or_name: str, workspace: Any | None = None, environ=None) -> ConnectionURL:
    """A URL or a workspace connection name -> ConnectionURL (env vars expanded, secret known)."""
    if not isinstance(url_or_name, str) or not url_or_name.strip():
        raise UserInputError("no database given", hint="Pass a database URL or a connection name.")
    text = url_or_name.strip()
    if "://" in text:
        parsed = parse_url(expand_env(text, environ, where="the database URL"))
        return _anchor_sqlite_path(parsed, workspace)
    conns = configured_connections(workspace)
    if text not in conns:
        close = difflib.get_close_matches(text, list(conns), n=1)
        hint = (
            f"Did you mean {close[0]!r}?"
            if close
            else "Pass a URL (postgresql://..., mysql://..., sqlite:///path, mongodb://...) or "
            "add the name under [connections] in datamigration.toml."
        )
        raise NotFoundError(
            f"unknown connection name {text!r}"
            + (f"; configured: {', '.join(sorted(conns))}" if conns else ""),
            hint=hint,
            name=text,
        )
    raw, options = _entry_url(text, conns[text])
    parsed = parse_url(
        expand_env(raw, environ, where=f"connection {text!r}"), name=text, options=options
    )
    return _anchor_sqlite_path(parsed, workspace)


def _anchor_sqlite_path(parsed: ConnectionURL, workspace: Any | None) -> ConnectionURL:
    """A relative SQLite path in datamigration.toml means relative to the workspace root.

    The config file lives in the workspace, so `sqlite:///app.db` there names the workspace's
    app.db wherever the server or CLI happens to be started from.
    """
    root = getattr(workspace, "root", None)
    path = parsed.database
    if parsed.dialect != "sqlite" or root is None or path == ":memory:":
        return parsed
    if path.startswith("file:") or os.path.isabs(path):
        return parsed
    return dataclasses.replace(parsed, database=str(Path(root) / path))


def list_connections(workspace: Any | None, environ=None) -> list[dict[str, Any]]:
    """Configured names with redacted URLs; unresolved ${VARS} are reported, not fatal."""
    out = []
    for name, entry in sorted(configured_connections(workspace).items()):
        raw, options = _entry_url(name, entry)
        missing = [v for v in _ENV_REF.findall(raw) if v not in (environ or os.environ)]
        try:
            shown = parse_url(expand_env(raw, environ), name=name).redacted if not missing else None
        except UserInputError:
            shown = None
        if shown is None:
            # Show the template; ${VAR} references are not secrets, but a literal password is.
            shown = redact_url(raw)
        out.append(
            {
                "name": name,
                "url": shown,
                "dialect": SCHEMES.get(raw.split("://", 1)[0].lower(), "unknown"),
                "missing_env": missing,
                "options": {k: v for k, v in options.items() if not is_secret_name(k)},
            }
        )
    return out
