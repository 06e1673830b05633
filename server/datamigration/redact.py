"""Secrets never leave the process: redaction for URLs, text and environments.

Used by every face that prints, logs or writes: connection URLs are shown with the password
replaced, and environments passed to subprocesses are stripped of anything that looks secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "***"
_SECRET_NAME = re.compile(
    r"(PASS(WORD|WD)?|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH|_DSN|DATABASE_URL|_URL$)",
    re.IGNORECASE,
)
# Bounded repeats keep the scan linear: with an unbounded scheme, every letter of a long value
# (a 64 KB text cell) restarted a scan to its end, and redacting took seconds.
_URL_PASSWORD = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]{0,31}://)(?P<user>[^:/@\s]{0,256}):(?P<pw>[^@\s/]{0,1024})@"
)

#: query parameters of a connection URL that carry a secret (libpq's ?password=, sslpassword)
_SECRET_PARAM = re.compile(r"pass(word|wd)?|pwd|secret|token", re.IGNORECASE)

_known_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value (e.g. a resolved password) so `redact_text` masks it anywhere."""
    if value and len(value) >= 3:
        _known_secrets.add(value)


def is_secret_param(name: str) -> bool:
    """True for URL query parameters that hold a credential (``password``, ``sslpassword``)."""
    return bool(_SECRET_PARAM.search(name))


def _redact_query(query: str) -> str:
    """The query string with the values of secret parameters replaced by ***."""
    pieces = []
    for piece in query.split("&") if query else []:
        key, eq, value = piece.partition("=")
        if eq and value and is_secret_param(unquote(key)):
            register_secret(unquote(value))
            register_secret(value)
            piece = f"{key}={MASK}"
        pieces.append(piece)
    return "&".join(pieces)


def redact_url(url: str) -> str:
    """Return the URL with any password replaced by ***; other parts are kept for diagnosis."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if parts.query and _redact_query(parts.query) != parts.query:
        parts = parts._replace(query=_redact_query(parts.query))
        url = urlunsplit(parts)
    if parts.password is None:
        return redact_text(url)
    register_secret(parts.password)
    register_secret(unquote(parts.password))
    hosts = parts.netloc.rpartition("@")[2]
    port: int | None = None
    as_written = "," in hosts  # several hosts: mongodb://u:pw@h1:27017,h2:27017/db
    if not as_written:
        try:
            port = parts.port
        except ValueError:  # a port that is not a number
            as_written = True
    if as_written:
        # Keep the host list exactly as written and replace only the password.
        netloc = f"{parts.username or ''}:{MASK}@{hosts}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:{MASK}@{host}"
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def redact_text(text: str, extra_secrets: Iterable[str] = ()) -> str:
    """Mask passwords inside URLs and every registered or given secret value in free text."""
    out = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    for secret in sorted(
        {*_known_secrets, *(s for s in extra_secrets if s)}, key=len, reverse=True
    ):
        out = out.replace(secret, MASK)
    return out


def is_secret_name(name: str) -> bool:
    """True for environment variable names that usually hold credentials."""
    return bool(_SECRET_NAME.search(name))
