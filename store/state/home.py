"""What App Home shows from the database: the loaded releases, the last data change and the
workspace's digest subscriptions."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from store.app_state import DigestSubscription, SyncRun
from store.models import Release
from store.state.digest_runs import newest_runs


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
    last_date: dt.date | None = None  # the newest digest run: its local date, status and error
    last_status: str | None = None
    last_error: str | None = None


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
    """The workspace's active digest subscriptions, by channel, each with its newest run (so a
    digest that could not be posted shows where it was set up, not only in the log)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                DigestSubscription.id,
                DigestSubscription.channel_id,
                DigestSubscription.time_local,
                DigestSubscription.timezone,
                DigestSubscription.frameworks,
            )
            .where(DigestSubscription.team_id == team_id, DigestSubscription.active.is_(True))
            .order_by(DigestSubscription.channel_id)
        ).all()
    last = newest_runs(engine, [r.id for r in rows])
    out = []
    for sid, channel, time_local, zone, frameworks in rows:
        run = last.get(sid)
        out.append(
            SubscriptionLine(
                channel,
                time_local,
                zone,
                tuple(frameworks or ()),
                run.local_date if run else None,
                run.status if run else None,
                run.error if run else None,
            )
        )
    return out


def loaded_framework_versions(engine: Engine) -> list[tuple[str, str]]:
    """Distinct (framework, framework version) loaded, by framework: the search form's menus."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Release.framework, Release.framework_version).distinct().order_by(Release.framework)
        ).all()
    return [(fw, version) for fw, version in rows]


def loaded_attack_versions(engine: Engine) -> list[str]:
    """ATT&CK versions of the loaded releases, newest first (16.1 before 8.2: by number)."""
    with engine.connect() as conn:
        found = conn.execute(select(Release.attack_version).distinct()).scalars().all()
    return sorted(found, key=version_key, reverse=True)


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Orders versions as people read them: "8.2" < "14.1" < "16.1", "rev4" < "rev5",
    "07/18/2025" by date; numbers before words in each part."""
    parts = re.split(r"[./-]", version)
    if re.fullmatch(r"\d{2}/\d{2}/\d{4}", version):  # MM/DD/YYYY release dates
        parts = [parts[2], parts[0], parts[1]]
    out: list[tuple[int, int | str]] = []
    for part in parts:
        for piece in re.findall(r"\d+|\D+", part):
            out.append((0, int(piece)) if piece.isdigit() else (1, piece.lower()))
    return tuple(out)
