"""Confirmation of mutating actions, built once for every tool.

An Action is plain data (kind, human summary, exact payload). A confirm token is bound to the
digest of that exact action, expires quickly and is single-use, so a token issued to drop table A
cannot be replayed to drop table B. The MCP face asks by elicitation when the client can, and
otherwise hands the token to the model to show the user; the CLI confirms with --yes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TTL_SECONDS = 300.0


@dataclass(frozen=True)
class Action:
    kind: str
    summary: str
    payload: dict[str, Any] = field(default_factory=dict)

    def digest(self) -> str:
        body = json.dumps(
            {"kind": self.kind, "payload": self.payload}, sort_keys=True, default=str
        )
        return hashlib.sha256(body.encode()).hexdigest()


class ConfirmationBroker:
    """Issues and redeems short-lived single-use tokens bound to one exact Action."""

    def __init__(self, ttl_seconds: float = DEFAULT_TTL_SECONDS) -> None:
        self.ttl_seconds = ttl_seconds
        self._key = secrets.token_bytes(32)
        self._issued: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def issue(self, action: Action) -> str:
        nonce = secrets.token_urlsafe(9)
        mac = hmac.new(self._key, f"{nonce}:{action.digest()}".encode(), "sha256").hexdigest()[:16]
        token = f"cfm-{nonce}-{mac}"
        with self._lock:
            self._purge()
            self._issued[token] = (action.digest(), time.monotonic() + self.ttl_seconds)
        return token

    def redeem(self, action: Action, token: str | None) -> bool:
        """True once for a live token issued for this exact action; the token is then spent."""
        if not token:
            return False
        with self._lock:
            self._purge()
            entry = self._issued.get(token)
            if entry is None or not hmac.compare_digest(entry[0], action.digest()):
                return False
            del self._issued[token]
            return True

    def _purge(self) -> None:
        now = time.monotonic()
        for tok in [t for t, (_, exp) in self._issued.items() if exp < now]:
            del self._issued[tok]
