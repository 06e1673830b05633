"""Ask before acting: elicitation when the client supports it, a confirm token otherwise.

`await confirm(ctx, runtime, action, confirm_token)` returns only when the user agreed; otherwise
it raises ConfirmationRequiredError (carrying a fresh token bound to the action). It never acts
unconfirmed because the client could not ask.
"""

from __future__ import annotations

from typing import Any

from datamigration.confirmation import Action
from datamigration.errors import ConfirmationRequiredError


async def confirm(ctx: Any, runtime: Any, action: Action, confirm_token: str | None) -> None:
    if runtime.confirmations.redeem(action, confirm_token):
        return
    token = runtime.confirmations.issue(action)
    raise ConfirmationRequiredError(
        f"confirmation needed: {action.summary}",
        hint=f"Show this action to the user; if they agree, call again with confirm_token={token!r}.",
        confirm_token=token,
        action=action.kind,
    )
