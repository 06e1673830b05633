"""The confirm-token broker: bound to one exact action, single-use, short-lived."""

from __future__ import annotations

import pytest

from datamigration.confirmation import (
    PURPOSE_ELICITATION,
    Action,
    ConfirmationBroker,
    require_yes,
)
from datamigration.errors import ConfirmationRequiredError

DROP_USERS = Action("drop_table", "drop table users", {"table": "users"})
DROP_ORDERS = Action("drop_table", "drop table orders", {"table": "orders"})


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_a_token_confirms_the_action_it_was_issued_for_exactly_once() -> None:
    broker = ConfirmationBroker()
    token = broker.issue(DROP_USERS)
    assert broker.redeem(DROP_USERS, token)
    assert not broker.redeem(DROP_USERS, token)


def test_a_token_does_not_confirm_a_different_action_and_survives_the_attempt() -> None:
    broker = ConfirmationBroker()
    token = broker.issue(DROP_USERS)
    assert not broker.redeem(DROP_ORDERS, token)
    assert broker.redeem(DROP_USERS, token)


def test_the_payload_not_the_summary_identifies_the_action() -> None:
    broker = ConfirmationBroker()
    token = broker.issue(DROP_USERS)
    reworded = Action("drop_table", "remove the users table", {"table": "users"})
    other_kind = Action("truncate_table", "drop table users", {"table": "users"})
    assert not broker.redeem(other_kind, token)
    assert broker.redeem(reworded, token)


def test_an_expired_token_is_refused() -> None:
    clock = Clock()
    broker = ConfirmationBroker(ttl_seconds=10, clock=clock)
    token = broker.issue(DROP_USERS)
    clock.now += 10
    assert not broker.redeem(DROP_USERS, token)


def test_a_token_is_accepted_until_its_last_moment() -> None:
    clock = Clock()
    broker = ConfirmationBroker(ttl_seconds=10, clock=clock)
    token = broker.issue(DROP_USERS)
    clock.now += 9.9
    assert broker.redeem(DROP_USERS, token)


@pytest.mark.parametrize("token", [None, "", "cfm-made-up", "not-a-token"])
def test_missing_or_invented_tokens_are_refused(token: str | None) -> None:
    broker = ConfirmationBroker()
    broker.issue(DROP_USERS)
    assert not broker.redeem(DROP_USERS, token)


def test_an_elicitation_round_trip_token_is_not_a_confirm_token() -> None:
    broker = ConfirmationBroker()
    round_trip = broker.issue(DROP_USERS, purpose=PURPOSE_ELICITATION)
    assert not broker.redeem(DROP_USERS, round_trip)
    assert broker.redeem(DROP_USERS, round_trip, purpose=PURPOSE_ELICITATION)


def test_tokens_from_another_broker_are_refused() -> None:
    token = ConfirmationBroker().issue(DROP_USERS)
    assert not ConfirmationBroker().redeem(DROP_USERS, token)


def test_the_description_shows_the_payload_but_never_a_password() -> None:
    action = Action(
        "copy",
        "copy users to the new database",
        {"target": "postgresql://app:s3cret-pw@db.example/app", "table": "users"},
    )
    text = action.describe()
    assert "copy users to the new database" in text
    assert '"table": "users"' in text
    assert "s3cret-pw" not in text


def test_the_cli_refuses_without_yes_and_says_how_to_confirm() -> None:
    with pytest.raises(ConfirmationRequiredError) as caught:
        require_yes(DROP_USERS, yes=False)
    assert "--yes" in caught.value.hint
    assert "drop table users" in caught.value.message
    require_yes(DROP_USERS, yes=True)
