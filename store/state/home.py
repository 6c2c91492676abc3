"""What App Home shows from the database: the loaded releases, the last data change and the
workspace's digest subscriptions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from store.app_state import DigestSubscription, SyncRun
from store.models import Release


@dataclass(frozen=True, slots=True)
class ReleaseTotal:
    """Mapping rows loaded for one (framework, framework version, ATT&CK version)."""

    framework: str
    framework_version: str
    attack_version: str
    mappings: int


@dataclass(frozen=True, slots=True)
class DataChange:
    finished_at: dt.datetime
    kind: str  # "sync" | "ingest"


@dataclass(frozen=True, slots=True)
class SubscriptionLine:
    channel_id: str
    time_local: str
    timezone: str
    frameworks: tuple[str, ...]


def release_totals_and_last_change(engine: Engine) -> tuple[list[ReleaseTotal], DataChange | None]:
    """Loaded releases in (framework, version, ATT&CK version) order, and the newest finished
    sync or ingest; one connection for both."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                Release.framework,
                Release.framework_version,
                Release.attack_version,
                func.sum(Release.mapping_count),
            )
            .group_by(Release.framework, Release.framework_version, Release.attack_version)
            .order_by(Release.framework, Release.framework_version, Release.attack_version)
        ).all()
        last = conn.execute(
            select(SyncRun.finished_at, SyncRun.kind)
            .where(SyncRun.finished_at.is_not(None))
            .order_by(SyncRun.finished_at.desc())
            .limit(1)
        ).first()
    totals = [ReleaseTotal(fw, version, attack, int(count or 0)) for fw, version, attack, count in rows]
    return totals, DataChange(last.finished_at, last.kind) if last is not None else None


def team_digest_subscriptions(engine: Engine, team_id: str) -> list[SubscriptionLine]:
    """The workspace's active digest subscriptions, by channel."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                DigestSubscription.channel_id,
                DigestSubscription.time_local,
                DigestSubscription.timezone,
                DigestSubscription.frameworks,
            )
            .where(DigestSubscription.team_id == team_id, DigestSubscription.active.is_(True))
            .order_by(DigestSubscription.channel_id)
        ).all()
    return [SubscriptionLine(c, t, z, tuple(f or ())) for c, t, z, f in rows]


def loaded_framework_versions(engine: Engine) -> list[tuple[str, str]]:
    """Distinct (framework, framework version) loaded, by framework: the search form's menus."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Release.framework, Release.framework_version).distinct().order_by(Release.framework)
        ).all()
    return [(fw, version) for fw, version in rows]
