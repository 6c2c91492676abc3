"""The bot's own state: sync history, Slack events, channel settings, incident cards, look-ups
and digests.

Kept apart from the mapping data in ``store.models`` because answering a question never reads
these tables, and declaring them is a measurable part of a cold ``countermap ask``.  They share
``store.models.Base``; ``store.models.full_metadata()`` imports this module for migrations.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base, utcnow

# --------------------------------------------------------------------------- sync


class SourceCache(Base):
    """What ``countermap sync`` last fetched from a URL, for conditional requests."""

    __tablename__ = "source_cache"

    url: Mapped[str] = mapped_column(String(1000), primary_key=True)
    etag: Mapped[str | None] = mapped_column(String(300))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    sha256: Mapped[str | None] = mapped_column(String(64))
    fetched_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SyncRun(Base):
    """One finished ``sync`` or ``ingest`` that changed data, for App Home and digests."""

    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "sync" | "ingest"
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
    releases_changed: Mapped[list[Any]] = mapped_column(JSON, default=list)  # release keys
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# --------------------------------------------------------------------------- Slack-side state


class ProcessedEvent(Base):
    """Slack ``event_id``s already handled; the primary key makes duplicate replies impossible
    even with several instances on one database."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    team_id: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class ChannelSettings(Base):
    __tablename__ = "channel_settings"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    watch: Mapped[bool | None] = mapped_column(Boolean)  # None: follow the name pattern
    frameworks: Mapped[list[str] | None] = mapped_column(JSON)
    updated_by: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SettingsVersion(Base):
    """One row (id 1) whose version every channel-settings change bumps in its transaction: a
    process keeps the settings it read and re-reads them only when this number moved, so a
    change holds on the next message on every worker and instance for one tiny read."""

    __tablename__ = "settings_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer, default=0)


class IncidentCard(Base):
    """One compact card per technique per thread; the unique key is the de-duplication."""

    __tablename__ = "incident_cards"
    __table_args__ = (
        UniqueConstraint("team_id", "channel_id", "thread_ts", "technique_id", name="uq_incident_card"),
        Index("ix_incident_cards_channel_time", "team_id", "channel_id", "posted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str] = mapped_column(String(32))
    technique_id: Mapped[str] = mapped_column(String(32))
    posted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    message_ts: Mapped[str | None] = mapped_column(String(32))


class Lookup(Base):
    """A question answered, for App Home's recent look-ups and the channel digest."""

    __tablename__ = "lookups"
    __table_args__ = (
        Index("ix_lookups_channel_time", "team_id", "channel_id", "created_at"),
        Index("ix_lookups_user_time", "team_id", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))  # command | mention | dm | card | shortcut | modal
    query: Mapped[str] = mapped_column(Text)
    technique_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    capability_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # "framework:ID"
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DigestSubscription(Base):
    __tablename__ = "digest_subscriptions"
    __table_args__ = (UniqueConstraint("team_id", "channel_id", name="uq_digest_subscription"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    time_local: Mapped[str] = mapped_column(String(5), default="09:00")  # HH:MM
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")  # IANA name
    frameworks: Mapped[list[str]] = mapped_column(JSON, default=list)
    watch: Mapped[list[str]] = mapped_column(JSON, default=list)  # technique IDs
    post_when_quiet: Mapped[bool] = mapped_column(Boolean, default=True)
    # Report the channel's inventory against the day's techniques and the watch list.
    coverage: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Digests due before this instant were never owed (set on subscribe and re-subscribe).
    active_since: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DigestRun(Base):
    """A claimed digest (subscription, local date).  The unique key is the exactly-once guard."""

    __tablename__ = "digest_runs"
    __table_args__ = (UniqueConstraint("subscription_id", "local_date", name="uq_digest_run"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("digest_subscriptions.id", ondelete="CASCADE"))
    local_date: Mapped[dt.date]
    due_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(16))  # claimed | sent | skipped | failed
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_ts: Mapped[str | None] = mapped_column(String(32))
    # Thread replies (long parts) already accepted by Slack, so a takeover resumes after them.
    thread_parts_posted: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[dt.datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
