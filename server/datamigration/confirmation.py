"""Confirmation of mutating actions, built once for every tool.

An Action is plain data (kind, human summary, exact payload). A confirm token is bound to the
digest of that exact action, expires quickly and is single-use, so a token issued to drop table A
cannot be replayed to drop table B, nor twice. The MCP face asks by elicitation when the client
can, and otherwise hands the token to the model to show the user (datamigration.mcp.confirm); the
CLI confirms with --yes (`require_yes`). This module is engine-level: it never imports `mcp`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from datamigration.errors import ConfirmationRequiredError
from datamigration.redact import redact_text

DEFAULT_TTL_SECONDS = 300.0

#: Tokens handed to the model (confirm_token) and tokens carried in the elicitation round trip
#: (request_state) are kept apart, so one can never be redeemed as the other.
PURPOSE_TOKEN = "token"
PURPOSE_ELICITATION = "elicitation"


@dataclass(frozen=True)
class Action:
    """What is about to happen. `payload` must hold everything that makes it *this* action."""

    kind: str
    summary: str
    payload: dict[str, Any] = field(default_factory=dict)

    def digest(self) -> str:
        body = json.dumps({"kind": self.kind, "payload": self.payload}, sort_keys=True, default=str)
        return hashlib.sha256(body.encode()).hexdigest()

    def describe(self, limit: int = 1500) -> str:
        """The summary plus the exact payload, redacted and capped: what a person is asked to OK."""
        details = json.dumps(self.payload, indent=2, sort_keys=True, default=str)
        if len(details) > limit:
            details = details[:limit] + "\n... (truncated)"
        text = f"{self.summary}\n\naction: {self.kind}"
        if self.payload:
            text += f"\n{details}"
        return redact_text(text)


class ConfirmationBroker:
    """Issues and redeems short-lived single-use tokens bound to one exact Action."""

    def __init__(
        self,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._issued: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _binding(action: Action, purpose: str) -> str:
        return f"{purpose}:{action.digest()}"

    def issue(self, action: Action, *, purpose: str = PURPOSE_TOKEN) -> str:
        binding = self._binding(action, purpose)
        nonce = secrets.token_urlsafe(9)
        mac = hmac.new(self._key, f"{nonce}:{binding}".encode(), "sha256").hexdigest()[:16]
        token = f"cfm-{nonce}-{mac}"
        with self._lock:
            self._purge()
            self._issued[token] = (binding, self._clock() + self.ttl_seconds)
        return token

    def redeem(self, action: Action, token: str | None, *, purpose: str = PURPOSE_TOKEN) -> bool:
        """True once for a live token issued for this exact action; the token is then spent.

        A token presented for a different action stays valid for its own action: a model that
        mixed two tokens up must not burn the one the user actually agreed to.
        """
        if not token:
            return False
        with self._lock:
            self._purge()
            entry = self._issued.get(token)
            if entry is None or not hmac.compare_digest(entry[0], self._binding(action, purpose)):
                return False
            del self._issued[token]
            return True

    def _purge(self) -> None:
        now = self._clock()
        for tok in [t for t, (_, exp) in self._issued.items() if exp <= now]:
            del self._issued[tok]


def require_yes(action: Action, yes: bool) -> None:
    """The CLI twin of `confirm`: proceed only with --yes, otherwise say exactly what would run."""
    if yes:
        return
    raise ConfirmationRequiredError(
        f"confirmation needed: {action.summary}",
        hint="Nothing was done. Re-run the same command with --yes to confirm this action.",
        action=action.kind,
    )
