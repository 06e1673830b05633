"""Ask before acting: elicitation when the client supports it, a confirm token otherwise.

`await confirm(ctx, runtime, action, confirm_token)` returns only when the user agreed; otherwise
it raises. It never acts unconfirmed because the client could not ask. The three ways to agree:

1. A confirm token issued earlier for this exact action (single-use, short-lived).
2. Elicitation, when the client declared form elicitation. The transport follows the protocol era:
   - handshake era (<= 2025-11-25): a mid-call `elicitation/create` request (`ctx.elicit`);
   - 2026-07-28: there is no back-channel, so confirm raises `InputRequired`; the `tool` wrapper
     returns its `InputRequiredResult`, the client asks the user and calls the tool again with the
     answer. The round trip carries a broker token (purpose "elicitation", bound to the action),
     so an answer is only honoured for the same action, once, and before it expires.
   Accept proceeds; decline or cancel raises ConfirmationRequiredError ("declined by the user")
   with no token, and nothing is done.
3. Otherwise (no elicitation, or the client failed to answer): ConfirmationRequiredError carrying a
   fresh token bound to the action; the model shows the action to the user and calls again.

In the 2026-07-28 flow the tool body runs again on the retry, so tools must call `confirm` before
any side effect (which they must anyway).
"""

from __future__ import annotations

import logging
from typing import Any

from mcp.server.elicitation import render_elicitation_schema
from mcp.shared.exceptions import MCPError
from mcp_types import ElicitRequest, ElicitRequestFormParams, ElicitResult, InputRequiredResult
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, Field

from datamigration.confirmation import PURPOSE_ELICITATION, Action, ConfirmationBroker
from datamigration.errors import ConfirmationRequiredError

log = logging.getLogger(__name__)

#: Key of our question in `InputRequiredResult.input_requests` (2026-07-28 flow).
ELICITATION_KEY = "datamigration_confirm"
_INPUT_REQUIRED_VERSION = "2026-07-28"


class ConfirmForm(BaseModel):
    """What the user is shown: one yes/no field; Accept with it ticked means go ahead."""

    confirm: bool = Field(default=True, title="Proceed", description="Carry out this action")


class InputRequired(Exception):
    """Raised by `confirm` in 2026-07-28 sessions; the `tool` wrapper returns `.result`.

    Never catch it in a tool body: it is how the question reaches the client.
    """

    def __init__(self, result: InputRequiredResult) -> None:
        super().__init__("input required")
        self.result = result


async def confirm(ctx: Any, runtime: Any, action: Action, confirm_token: str | None) -> None:
    broker: ConfirmationBroker = runtime.confirmations
    if confirm_token and broker.redeem(action, confirm_token):
        return
    stale = bool(confirm_token)
    era = _elicitation_era(ctx)
    if era == "input_required":
        _confirm_by_round_trip(ctx, broker, action)
        return
    if era == "request":
        try:
            outcome = await ctx.elicit(_question(action), ConfirmForm)
        except (MCPError, ValueError) as exc:  # claimed support but could not ask: fall back
            log.warning(
                "elicitation failed (%s); falling back to a confirm token", type(exc).__name__
            )
        else:
            accepted = outcome.action == "accept" and bool(getattr(outcome.data, "confirm", False))
            if accepted:
                return
            raise _declined(action, outcome.action)
    raise _token_required(broker, action, stale)


def _elicitation_era(ctx: Any) -> str | None:
    """None (cannot ask), "request" (mid-call request) or "input_required" (2026-07-28)."""
    try:
        capabilities = ctx.client_capabilities
        version = ctx.protocol_version
    except (AttributeError, ValueError):  # no live request (direct call in a test, CLI reuse)
        return None
    elicitation = capabilities.elicitation if capabilities is not None else None
    # A bare `elicitation: {}` predates modes and means form; url-only clients cannot show a form.
    if elicitation is None or (elicitation.form is None and elicitation.url is not None):
        return None
    if version is not None and is_version_at_least(version, _INPUT_REQUIRED_VERSION):
        return "input_required"
    return "request"


def _confirm_by_round_trip(ctx: Any, broker: ConfirmationBroker, action: Action) -> None:
    answer = (ctx.input_responses or {}).get(ELICITATION_KEY)
    state = ctx.request_state
    if answer is not None and broker.redeem(action, state, purpose=PURPOSE_ELICITATION):
        if (
            isinstance(answer, ElicitResult)
            and answer.action == "accept"
            and _form_confirms(answer.content)
        ):
            return
        raise _declined(action, getattr(answer, "action", "invalid answer"))
    # First round, or an answer we cannot tie to this exact action (changed arguments, expired,
    # replayed): ask (again).
    token = broker.issue(action, purpose=PURPOSE_ELICITATION)
    request = ElicitRequest(
        params=ElicitRequestFormParams(
            message=_question(action),
            requested_schema=render_elicitation_schema(ConfirmForm),
        )
    )
    raise InputRequired(
        InputRequiredResult(input_requests={ELICITATION_KEY: request}, request_state=token)
    )


def _form_confirms(content: dict[str, Any] | None) -> bool:
    try:
        return ConfirmForm.model_validate(content or {}).confirm
    except ValueError:
        return False


def _question(action: Action) -> str:
    return f"Confirm: {action.describe()}\n\nAccept to proceed; decline and nothing is done."


def _declined(action: Action, how: str) -> ConfirmationRequiredError:
    return ConfirmationRequiredError(
        f"declined by the user ({how}): {action.summary}",
        hint="Nothing was done. Ask the user what to change before trying again.",
        action=action.kind,
        declined=True,
    )


def _token_required(
    broker: ConfirmationBroker, action: Action, stale: bool
) -> ConfirmationRequiredError:
    token = broker.issue(action)
    prefix = (
        "the confirm token was not valid for this exact action (used, expired, or issued for "
        "another action); "
        if stale
        else ""
    )
    return ConfirmationRequiredError(
        f"{prefix}confirmation needed: {action.summary}",
        hint=(
            "Nothing was done. Show this action to the user; only if they agree, call the same "
            f"tool again with the same arguments and confirm_token={token!r} "
            f"(valid {int(broker.ttl_seconds)} s, once)."
        ),
        confirm_token=token,
        action=action.kind,
    )
