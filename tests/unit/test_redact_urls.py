"""redact_url / redact_text on every URL shape a user may hand us, multi-host ones included."""

from __future__ import annotations

import pytest

from datamigration.redact import MASK, redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:pw-one@db:5432/app", "postgresql://app:***@db:5432/app"),
        ("postgresql://app:pw-two@[::1]:5432/app", "postgresql://app:***@[::1]:5432/app"),
        (
            "mongodb://app:pw-three@h1:27017,h2:27017/db?replicaSet=rs",
            "mongodb://app:***@h1:27017,h2:27017/db?replicaSet=rs",
        ),
        (
            "mongodb://app:pw-four@h1,[::1]:27018,H3:27019/db",
            "mongodb://app:***@h1,[::1]:27018,H3:27019/db",
        ),
        ("mongodb://app:pw-five@h1:27017,h2:27017", "mongodb://app:***@h1:27017,h2:27017"),
        ("postgresql://app:pw-six@db:notaport/app", "postgresql://app:***@db:notaport/app"),
    ],
)
def test_the_password_is_masked_and_every_host_kept(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_multi_host_url_without_a_password_is_unchanged() -> None:
    url = "mongodb://h1:27017,h2:27017/db?replicaSet=rs"
    assert redact_url(url) == url


def test_a_multi_host_password_is_remembered_and_masked_in_free_text() -> None:
    redact_url("mongodb://app:only-in-url-77@h1:1,h2:2/db")
    assert redact_text("auth failed for only-in-url-77") == f"auth failed for {MASK}"


def test_free_text_with_a_multi_host_url_loses_the_password() -> None:
    text = "cannot reach mongodb://app:Hidden-Pw-8@h1:27017,h2:27017/db (timeout)"
    out = redact_text(text)
    assert "Hidden-Pw-8" not in out and "h1:27017,h2:27017/db" in out


@pytest.mark.timeout(20)
def test_redacting_a_megabyte_of_text_without_a_url_finishes_and_changes_nothing() -> None:
    # An unbounded scheme pattern rescanned the rest of the text from every letter: 65 KB of
    # one letter took 4 s and a megabyte would take many minutes (a query cell can be that big).
    text = "x" * 1_000_000
    assert redact_text(text) == text
    crafted = "a://b:" * 50_000
    assert redact_text(crafted) == crafted
    assert redact_text("y" * 500 + "postgresql://u:S3cr3t@h/db") == "y" * 500 + (
        f"postgresql://u:{MASK}@h/db"
    )
