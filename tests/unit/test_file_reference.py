"""How a file we write names a database: a connection name, or the URL with ${VAR} for the
password (issue 10 item 5), and URL query passwords (`?password=`) redacted like userinfo."""

from __future__ import annotations

import pytest

from datamigration.db.urls import file_reference
from datamigration.redact import redact_text, redact_url
from datamigration.workspace.root import Workspace

VAR = "DATAMIGRATION_SOURCE_PASSWORD"


@pytest.mark.parametrize(
    ("given", "written"),
    [
        ("postgresql://app:S3cr3t@db:5432/app", "postgresql://app:${VAR}@db:5432/app"),
        ("postgresql://app:S3%63r3t@db/app", "postgresql://app:${VAR}@db/app"),
        ("mysql://app:p%40ss@db/app?charset=utf8mb4", "mysql://app:${VAR}@db/app?charset=utf8mb4"),
        ("mongodb://u:pw1@h1:27017,h2:27018/app?replicaSet=rs",
         "mongodb://u:${VAR}@h1:27017,h2:27018/app?replicaSet=rs"),
        ("postgresql://app@db/app?sslmode=require&password=S3cr3t",
         "postgresql://app@db/app?sslmode=require&password=${VAR}"),
    ],
)  # fmt: skip
def test_refuses_to_write_a_password_and_names_a_variable_instead(given, written):
    assert file_reference(given, password_var=VAR) == (written.replace("VAR", VAR), VAR)


@pytest.mark.parametrize(
    "given",
    [
        "app",  # a connection name: datamigration.toml holds the URL
        "postgresql://app:${APP_PW}@db/app",  # already a reference
        "postgresql://app@db/app",  # no password
        "sqlite:///data/app.db",
    ],
)
def test_leaves_names_references_and_password_free_urls_as_they_are(given):
    assert file_reference(given, password_var=VAR) == (given, None)


def test_a_url_of_a_configured_connection_is_written_as_its_name(tmp_path, monkeypatch):
    (tmp_path / "datamigration.toml").write_text(
        '[connections]\napp = "postgresql://app:${DM_UNIT_PW}@db/app"\n', encoding="utf-8"
    )
    monkeypatch.setenv("DM_UNIT_PW", "S3cr3t")
    ws = Workspace.open(tmp_path)
    assert file_reference("postgresql://app:S3cr3t@db/app", ws, password_var=VAR) == ("app", None)
    assert file_reference("postgresql://app:other@db/app", ws, password_var=VAR)[1] == VAR


def test_a_password_in_the_query_string_is_redacted_like_one_in_the_userinfo():
    shown = redact_url("postgresql://app@db/app?sslmode=require&password=Qu3ry-Pw")
    assert shown == "postgresql://app@db/app?sslmode=require&password=***"
    assert "Qu3ry-Pw" not in redact_text("the password Qu3ry-Pw was used")
