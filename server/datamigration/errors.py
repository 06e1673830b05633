"""One error root for everything the product refuses or fails to do.

Every error carries a human message, a `hint` (what to do next) and optional structured `data`.
The MCP layer turns these into tool errors the model can act on; the CLI prints them without a
traceback and exits with the error's `exit_code`. Anything that is not a DataMigrationError is a
bug and is allowed to surface as one.
"""

from __future__ import annotations

from typing import Any


class DataMigrationError(Exception):
    """Base class: message + hint + data. Subclasses only refine the category and exit code."""

    exit_code = 1
    default_hint = ""

    def __init__(self, message: str, *, hint: str | None = None, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        self.data = data

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": type(self).__name__, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        if self.data:
            out["data"] = self.data
        return out

    def render(self) -> str:
        """One or two lines for a terminal or a tool error: the message, then the hint."""
        return f"{self.message}\nhint: {self.hint}" if self.hint else self.message


class UserInputError(DataMigrationError):
    """The request itself is wrong (bad argument, malformed file, unknown name)."""

    exit_code = 2


class NotFoundError(UserInputError):
    """A named thing (file, story, plan, table, connection) does not exist."""


class FileFormatError(UserInputError):
    """A file a person or agent wrote does not parse or does not match its schema.

    Carries `path`, `line` and `problem` so the message can point at the exact spot.
    """


class PathOutsideWorkspaceError(UserInputError):
    """A path resolves outside the workspace root (.., absolute, symlink, prefix trick)."""

    default_hint = "Use a path inside the workspace root; symlinks that leave it are refused."


class ConfirmationRequiredError(DataMigrationError):
    """A mutating action was asked for without a valid confirmation.

    `data` holds the confirm token (when one was issued) and a description of the action.
    """

    exit_code = 3
    default_hint = "Confirm the action (send back the confirm token, or pass --yes on the CLI)."


class ConflictError(DataMigrationError):
    """The action clashes with current state (illegal transition, file exists, lock held)."""

    exit_code = 4


class HarnessRuleError(ConflictError):
    """A story may reach in-review only when its latest validation passed."""

    default_hint = (
        "Run a validation that passes (datamigration validate ...) or override with an "
        "explicit reason, which is logged on the bus as a warning."
    )


class LockTimeoutError(ConflictError):
    """A file or database lock could not be taken in time."""


class DatabaseError(DataMigrationError):
    """The database refused or failed; the message never contains a password."""

    exit_code = 5


class ReadOnlyViolationError(DatabaseError):
    """A query tried to write (or to escape the read-only transaction) and was refused."""

    default_hint = "The query path is read-only; use a plan and the executor for changes."


class ValidationFailedError(DataMigrationError):
    """A validation ran and found problems; `data` carries the report summary."""

    exit_code = 6
