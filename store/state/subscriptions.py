"""Digest subscriptions: one per channel, kept in ``digest_subscriptions``.

Unsubscribing deactivates rather than deletes, so the channel's claimed digests (the
exactly-once record) survive an unsubscribe/subscribe on the same day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.app_state import DigestSubscription


@dataclass(frozen=True)
class Changes:
    """What ``subscribe`` asked to set; ``None`` keeps the current value (or the default)."""

    time_local: str | None = None
    timezone: str | None = None
    frameworks: tuple[str, ...] | None = None
    watch: tuple[str, ...] | None = None
    post_when_quiet: bool | None = None
    coverage: bool | None = None


@dataclass(frozen=True)
class Defaults:
    time_local: str
    timezone: str
    frameworks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Subscription:
    """A channel's digest subscription as read: plain values, detached from the database."""

    id: int
    team_id: str
    channel_id: str
    enterprise_id: str | None
    time_local: str  # HH:MM
    timezone: str  # IANA name
    frameworks: tuple[str, ...]
    watch: tuple[str, ...]  # technique IDs and the G/S/C IDs of watched threats
    post_when_quiet: bool
    coverage: bool
    active: bool
    active_since: dt.datetime

    @classmethod
    def of(cls, row: DigestSubscription) -> Subscription:
        return cls(
            id=row.id,
            team_id=row.team_id,
            channel_id=row.channel_id,
            enterprise_id=row.enterprise_id,
            time_local=row.time_local,
            timezone=row.timezone,
            frameworks=tuple(row.frameworks or ()),
            watch=tuple(row.watch or ()),
            post_when_quiet=bool(row.post_when_quiet),
            coverage=bool(row.coverage),
            active=bool(row.active),
            active_since=row.active_since,
        )


def get(session: Session, team_id: str, channel_id: str) -> DigestSubscription | None:
    return session.scalars(
        select(DigestSubscription).where(
            DigestSubscription.team_id == team_id, DigestSubscription.channel_id == channel_id
        )
    ).one_or_none()


def subscribe(
    session: Session,
    *,
    team_id: str,
    channel_id: str,
    user_id: str | None,
    changes: Changes,
    defaults: Defaults,
    now: dt.datetime,
    enterprise_id: str | None = None,
) -> tuple[DigestSubscription, bool]:
    """Create or update the channel's subscription; returns it and whether it is new (or was
    inactive).  Two people subscribing one channel at once end with one row."""
    for _ in range(2):
        sub = get(session, team_id, channel_id)
        fresh = sub is None or not sub.active
        if sub is None:
            sub = DigestSubscription(
                team_id=team_id,
                channel_id=channel_id,
                time_local=defaults.time_local,
                timezone=defaults.timezone,
                frameworks=list(defaults.frameworks),
                watch=[],
                post_when_quiet=True,
                coverage=False,
                created_by=user_id,
                created_at=now,
            )
            try:
                with session.begin_nested():
                    session.add(sub)
            except IntegrityError:
                continue  # someone else created it a moment ago: update theirs
        elif fresh:  # re-subscribing starts from the defaults again, like a new subscription
            sub.time_local, sub.timezone = defaults.time_local, defaults.timezone
            sub.frameworks, sub.watch, sub.post_when_quiet = list(defaults.frameworks), [], True
            sub.coverage = False
        if fresh:
            sub.active = True
            sub.active_since = now
            sub.created_by = user_id
        if enterprise_id:
            sub.enterprise_id = enterprise_id
        if changes.time_local is not None:
            sub.time_local = changes.time_local
        if changes.timezone is not None:
            sub.timezone = changes.timezone
        if changes.frameworks is not None:
            sub.frameworks = list(changes.frameworks)
        if changes.watch is not None:
            sub.watch = list(changes.watch)
        if changes.post_when_quiet is not None:
            sub.post_when_quiet = changes.post_when_quiet
        if changes.coverage is not None:
            sub.coverage = changes.coverage
        sub.updated_at = now
        session.flush()
        return sub, fresh
    raise RuntimeError("could not create or update the subscription")  # pragma: no cover


def unsubscribe(session: Session, team_id: str, channel_id: str, now: dt.datetime) -> bool:
    sub = get(session, team_id, channel_id)
    if sub is None or not sub.active:
        return False
    sub.active = False
    sub.updated_at = now
    return True


def team_subscriptions(session: Session, team_id: str) -> list[DigestSubscription]:
    return list(
        session.scalars(
            select(DigestSubscription)
            .where(DigestSubscription.team_id == team_id, DigestSubscription.active.is_(True))
            .order_by(DigestSubscription.channel_id)
        )
    )


def active_subscriptions(session: Session) -> list[DigestSubscription]:
    return list(
        session.scalars(
            select(DigestSubscription)
            .where(DigestSubscription.active.is_(True))
            .order_by(DigestSubscription.id)
        )
    )
