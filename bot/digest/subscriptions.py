"""Digest subscriptions as users read them: labels, the one-line summary.  Stored and changed
through ``store.state.subscriptions`` (the digest asks through ``store.state.scope``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from bot.config import ALL_FRAMEWORKS
from bot.digest.clock import as_utc
from bot.digest.schedule import next_due, zone
from bot.labels import FRAMEWORK_LABELS as VIEW_LABELS
from bot.render.mrkdwn import esc
from store.state.scope import StateReads
from store.state.subscriptions import Changes, Defaults, Subscription  # named for the digest's callers

__all__ = [
    "Changes",
    "Defaults",
    "describe_subscription",
    "framework_label",
    "frameworks_text",
    "summary",
]

# The views' labels, with the short name digests have room for.
FRAMEWORK_LABELS = {**VIEW_LABELS, "m365": "M365"}
assert set(FRAMEWORK_LABELS) == set(ALL_FRAMEWORKS)


def framework_label(key: str) -> str:
    return FRAMEWORK_LABELS.get(key, key)


def _escape(text: str) -> str:
    return esc(text)


def frameworks_text(frameworks: Sequence[str]) -> str:
    return ", ".join(framework_label(f) for f in frameworks) or "none"


def summary(sub: Subscription, now: dt.datetime) -> str:
    """One mrkdwn line: when, which frameworks, the watch list, quiet days, the next post."""
    when = next_due(sub.time_local, sub.timezone, now).astimezone(zone(sub.timezone))
    parts = [
        f"daily at *{sub.time_local}* {_escape(sub.timezone)}",
        f"frameworks: {_escape(frameworks_text(sub.frameworks))}",
    ]
    if sub.watch:
        shown = ", ".join(sub.watch[:12]) + (
            f" and {len(sub.watch) - 12} more" if len(sub.watch) > 12 else ""
        )
        parts.append(f"watching {_escape(shown)}")
    parts.append("quiet days: one line" if sub.post_when_quiet else "quiet days: nothing posted")
    if sub.coverage:
        parts.append("with your inventory's coverage")
    parts.append(f"next: {when:%a %d %b %H:%M}")
    return " · ".join(parts)


def describe_subscription(data: StateReads, team_id: str, channel_id: str) -> str | None:
    """The channel's digest settings as one mrkdwn line (App Home), or None if unsubscribed."""
    sub = data.subscription(team_id, channel_id)
    if sub is None or not sub.active:
        return None
    return "Daily digest " + summary(sub, as_utc(dt.datetime.now(dt.UTC))).removeprefix("daily ")
