"""The handles the digest and its commands hold: the mapping data's questions (``Reads``) plus the
bot's own state (channel activity, digest runs, subscriptions, inventories) in the same
transaction, and a writing handle for subscribing and unsubscribing.

``with state_reads(engine) as data:`` / ``with state_writes(engine) as data:``; bot code never
sees the session under them.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Engine

from store.db import session_scope, write_session
from store.reads import digest as _digest
from store.reads.compare import technique_coverage, top_controls
from store.reads.digest import DigestTechnique, KevChange, ReleaseChange
from store.reads.releases import ReleaseInfo
from store.reads.scope import Reads
from store.state import subscriptions as _subscriptions
from store.state.inventory import Inventory, effective_in
from store.state.subscriptions import Changes, Defaults, Subscription
from store.views import ControlLine, Coverage


class StateReads(Reads):
    """``Reads`` plus the bot's state: what digests are composed from."""

    __slots__ = ()

    # ------------------------------------------------------------------ digest facts

    def digest_techniques(self) -> dict[str, DigestTechnique]:
        """Every technique a digest can name, by ATT&CK ID."""
        return _digest.digest_techniques(self._session)

    def mapped_names(self, ids: Iterable[str]) -> dict[str, str]:
        """Names for IDs the ATT&CK data no longer has, as the mapping files wrote them."""
        return _digest.mapped_names(self._session, ids)

    def technique_of_the_day_candidates(
        self, techs: dict[str, DigestTechnique], releases: Sequence[ReleaseInfo]
    ) -> dict[str, list[str]]:
        return _digest.technique_of_the_day_candidates(self._session, techs, releases)

    def changed_releases(self, since: dt.datetime) -> list[ReleaseChange]:
        return _digest.changed_releases(self._session, since)

    def sync_times(self, since: dt.datetime) -> list[dt.datetime]:
        return _digest.sync_times(self._session, since)

    def new_kev(self, since: dt.datetime) -> list[KevChange]:
        return _digest.new_kev(self._session, since)

    def technique_states(self, ids: Sequence[str]) -> dict[str, tuple[bool, bool, str | None]] | None:
        """(revoked, deprecated, revoked by) of each known ID; None with no ATT&CK loaded."""
        return _digest.technique_states(self._session, ids)

    def technique_coverage(
        self, ids: Sequence[str], frameworks: Sequence[str]
    ) -> dict[str, dict[str, Coverage]]:
        """Per technique and framework, how the newest release maps it."""
        return technique_coverage(self._session, ids, frameworks)

    def top_controls(
        self,
        ids: Sequence[str],
        frameworks: Sequence[str],
        limit: int,
        *,
        per_framework: bool = False,
        releases: Sequence[ReleaseInfo] | None = None,
    ) -> dict[str, list[ControlLine]]:
        return top_controls(
            self._session, ids, frameworks, limit, per_framework=per_framework, releases=releases
        )

    def previous_sent(self, subscription_ids: Sequence[int]) -> dict[int, dt.datetime]:
        """When each subscription's newest digest was sent."""
        return _digest.previous_sent(self._session, subscription_ids)

    def channel_activity(
        self, channels: set[tuple[str, str]], since: dt.datetime
    ) -> dict[tuple[str, str], Counter[str]]:
        """Technique mentions per (team, channel) since ``since``: look-ups plus incident cards."""
        return _digest.channel_activity(self._session, channels, since)

    # ------------------------------------------------------------------ inventories, subscriptions

    def effective_inventory(self, team_id: str, channel_id: str | None) -> Inventory | None:
        """The channel's own inventory, else the workspace's, else None."""
        return effective_in(self._session, team_id, channel_id)

    def subscription(self, team_id: str, channel_id: str) -> Subscription | None:
        """The channel's subscription, active or not; None if it never subscribed."""
        row = _subscriptions.get(self._session, team_id, channel_id)
        return None if row is None else Subscription.of(row)

    def team_subscriptions(self, team_id: str) -> list[Subscription]:
        """The workspace's active subscriptions, by channel."""
        return [Subscription.of(r) for r in _subscriptions.team_subscriptions(self._session, team_id)]

    def active_subscriptions(self) -> list[Subscription]:
        """Every active subscription, oldest first."""
        return [Subscription.of(r) for r in _subscriptions.active_subscriptions(self._session)]


class StateWrites(StateReads):
    """``StateReads`` in a write transaction: subscribing and unsubscribing a channel."""

    __slots__ = ()

    def subscribe(
        self,
        *,
        team_id: str,
        channel_id: str,
        user_id: str | None,
        changes: Changes,
        defaults: Defaults,
        now: dt.datetime,
        enterprise_id: str | None = None,
    ) -> tuple[Subscription, bool]:
        """Subscribe the channel, or change its subscription; (subscription, newly subscribed)."""
        row, fresh = _subscriptions.subscribe(
            self._session,
            team_id=team_id,
            channel_id=channel_id,
            user_id=user_id,
            changes=changes,
            defaults=defaults,
            now=now,
            enterprise_id=enterprise_id,
        )
        return Subscription.of(row), fresh

    def unsubscribe(self, team_id: str, channel_id: str, now: dt.datetime) -> bool:
        """True if the channel had an active subscription."""
        return _subscriptions.unsubscribe(self._session, team_id, channel_id, now)


@contextmanager
def state_reads(engine: Engine) -> Iterator[StateReads]:
    """One read transaction on ``engine``, as a ``StateReads`` handle."""
    with session_scope(engine) as session:
        yield StateReads(session)


@contextmanager
def state_writes(engine: Engine) -> Iterator[StateWrites]:
    """One write transaction (SQLite's write lock taken up front), as a ``StateWrites`` handle."""
    with write_session(engine) as session:
        yield StateWrites(session)
