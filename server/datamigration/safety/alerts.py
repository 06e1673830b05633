"""Alerts: every trigger that fires and every gate that refuses says so, where people look.

`warn` posts a `warning` on the bus (always) and, when datamigration.toml names one, POSTs the
same text to an HTTP webhook as Slack-compatible JSON (`{"text": ...}`; Slack, Mattermost,
Rocket.Chat and Teams' incoming webhooks take it):

    [alerts]
    webhook = "https://hooks.slack.com/services/${SLACK_HOOK}"   # the secret from the environment
    timeout_seconds = 3                                         # default 3

The webhook gets a short timeout and never stops a migration: a failure (unreachable, an error
status, a missing variable) is logged and comes back as a note. The URL is never shown: it
often carries the secret itself.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from datamigration.coordination import bus
from datamigration.db.urls import expand_env
from datamigration.errors import DataMigrationError
from datamigration.redact import redact_text

log = logging.getLogger(__name__)

ALERTS_SECTION = "alerts"
DEFAULT_TIMEOUT_S = 3.0


def webhook_of(config: Mapping[str, Any]) -> tuple[str, float] | None:
    """The webhook URL (${VAR}s expanded) and its timeout, or None when none is configured."""
    section = config.get(ALERTS_SECTION) or {}
    url = section.get("webhook") if isinstance(section, Mapping) else None
    if not url:
        return None
    timeout = section.get("timeout_seconds", DEFAULT_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        timeout = DEFAULT_TIMEOUT_S
    return expand_env(str(url), where="[alerts] webhook"), float(timeout)


def post_webhook(config: Mapping[str, Any], text: str) -> str | None:
    """POST `{"text": text}` to the configured webhook; None when sent (or none configured),
    else what went wrong (logged, never raised)."""
    try:
        hook = webhook_of(config)
    except DataMigrationError as exc:
        problem = f"alert webhook not sent: {exc.message}"
        log.warning(problem)
        return problem
    if hook is None:
        return None
    url, timeout = hook
    if not url.lower().startswith(("https://", "http://")):
        log.warning("alert webhook not sent: [alerts] webhook is not an http(s) URL")
        return "alert webhook not sent: [alerts] webhook is not an http(s) URL"
    body = json.dumps({"text": redact_text(text)}).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            answer.read(1024)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "code", None) or type(exc).__name__
        problem = f"alert webhook not sent: {reason}"
        log.warning(problem)
        return problem
    return None


def warn(workspace: Any, text: str, *, story: str | None = None,
         extra: Mapping[str, Any] | None = None) -> list[str]:  # fmt: skip
    """A bus `warning` and the webhook; the notes of what could not be sent."""
    notes = []
    try:
        bus.post(workspace, "warning", text, story=story, extra=extra or None)
    except DataMigrationError as exc:
        notes.append(f"bus: {exc.message}")
    problem = post_webhook(workspace.config, text)
    if problem is not None:
        notes.append(problem)
    return notes
