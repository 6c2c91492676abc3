"""What a failed delivery means for the people who set it up: the line ``digest list`` and App
Home show under a channel whose last digest could not be posted (``not_in_channel``: the bot
was never invited, or was removed), with what would fix it.  Shared by the Slack app and the
digest, which do not import each other."""

from __future__ import annotations

import datetime as dt
import html

FIXES = {
    "not_in_channel": "invite me (`/invite @countermap`)",
    "channel_not_found": "the channel is gone, or private and I'm not in it: invite me",
    "is_archived": "the channel is archived: unsubscribe it, or unarchive it",
    "restricted_action": "posting there is restricted to admins: ask one to let me post",
    "missing_scope": "reinstall countermap so it has the permissions it needs",
    "invalid_auth": "reinstall countermap",
    "token_revoked": "reinstall countermap",
    "account_inactive": "reinstall countermap",
}


def error_code(error: str | None) -> str:
    """The Slack error code a run's error text starts with (``not_in_channel: The request …``)."""
    return (error or "").split(":", 1)[0].strip() or "unknown error"


def failed_delivery_line(local_date: dt.date, status: str, error: str | None) -> str | None:
    """One mrkdwn line when the newest digest run failed (or failed and waits for a retry), else
    None."""
    if status not in ("failed", "retry"):
        return None
    code = error_code(error)
    what = "failed" if status == "failed" else "failed and will be tried again"
    fix = FIXES.get(code)
    return (
        f":warning: the digest of {local_date:%Y-%m-%d} {what}: `{html.escape(code[:60], quote=False)}`"
        + (f", {fix}" if fix else "")
    )
