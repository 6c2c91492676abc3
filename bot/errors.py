"""The one error type a user is shown.  Every surface (the ack of a command or modal, a lazy
listener, Bolt's ``@app.error``) turns a failure into a ``UserFacingError`` with ``failure`` and
renders it with one function (``bot.render.errors.error_payload``).  Refusals (a forged button,
a command the user mistyped, a channel the bot is not in) are the same type, raised or built on
purpose, without an error ID."""

from __future__ import annotations

import logging
import uuid

log = logging.getLogger("bot.slack")

SOMETHING_WENT_WRONG = "Sorry, something went wrong while answering."


class UserFacingError(Exception):
    """What the user is told: a short sentence (plain text, escaped when rendered) and, when the
    cause is ours, the error ID it was logged under so an admin can find the traceback."""

    def __init__(
        self,
        message: str = SOMETHING_WENT_WRONG,
        *,
        error_id: str | None = None,
        hint: str | None = None,
        mrkdwn: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message  # plain text, or mrkdwn already escaped when ``mrkdwn``
        self.error_id = error_id
        self.hint = hint  # a line of mrkdwn under it: what to do instead
        self.mrkdwn = mrkdwn


def new_error_id() -> str:
    return uuid.uuid4().hex[:10]


def failure(surface: str, exc: BaseException | None = None) -> UserFacingError:
    """``exc`` as the user should see it.  A ``UserFacingError`` raised on purpose is passed on as
    it is; anything else is logged with its traceback under a fresh error ID, and the user gets
    the apology with that ID (never the exception's own text: it may hold internals)."""
    if isinstance(exc, UserFacingError):
        return exc
    error_id = new_error_id()
    log.error("answer failed on %s (error ID %s)", surface, error_id, exc_info=exc or True)
    return UserFacingError(error_id=error_id)
