"""Alerts never stop a migration: a webhook that is down, misnamed or missing its secret is a
note (and a log line), while the bus warning is posted all the same."""

from __future__ import annotations

import socket

import pytest

from datamigration.coordination import bus
from datamigration.safety.alerts import warn, webhook_of
from datamigration.workspace.root import Workspace


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ws_with(tmp_path, webhook: str) -> Workspace:
    (tmp_path / "datamigration.toml").write_text(
        f'[alerts]\nwebhook = "{webhook}"\ntimeout_seconds = 1\n'
    )
    return Workspace.open(str(tmp_path))


@pytest.mark.parametrize(
    ("webhook", "said"),
    [
        ("http://127.0.0.1:{port}/hook", "alert webhook not sent"),
        ("http://127.0.0.1:{port}/${DM_UNSET_HOOK_VAR}", "DM_UNSET_HOOK_VAR is not set"),
        ("file:///etc/passwd", "not an http(s) URL"),
    ],
)
def test_a_webhook_that_cannot_be_reached_is_a_note_and_the_bus_still_warns(
    tmp_path, monkeypatch, webhook, said
):
    monkeypatch.delenv("DM_UNSET_HOOK_VAR", raising=False)
    ws = ws_with(tmp_path, webhook.replace("{port}", str(closed_port())))
    notes = warn(ws, "Migration p: step s03 refused by its gate: held")
    assert len(notes) == 1 and said in notes[0]
    (msg,) = bus.read(ws, type="warning").messages
    assert msg.text == "Migration p: step s03 refused by its gate: held"


def test_the_webhook_secret_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DM_HOOK_SECRET", "abc")
    config = {"alerts": {"webhook": "https://hooks.example/${DM_HOOK_SECRET}"}}
    assert webhook_of(config) == ("https://hooks.example/abc", 3.0)
    assert webhook_of({}) is None
