"""What a digest reads: ATT&CK technique names and states, the newest releases' mapped
techniques (the technique of the day), channel activity (look-ups and incident cards), data
changes since a time (releases, syncs, new KEV entries) and when each subscription last got one."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.app_state import DigestRun, IncidentCard, Lookup, SyncRun
from store.models import Capability, Mapping, Release, Technique
from store.reads.releases import ReleaseInfo, pick_releases
from store.views import Filters, ReleaseRef


def _as_utc(value: dt.datetime) -> dt.datetime:
    """Aware UTC; a naive value is taken to be UTC already (SQLite returns naive datetimes)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


@dataclass(frozen=True)
class ReleaseChange:
    release: ReleaseRef
    loaded_at: dt.datetime
    mapping_count: int


@dataclass(frozen=True)
class KevChange:
    cve: str
    name: str
    techniques: tuple[str, ...]
    first_seen_at: dt.datetime


@dataclass(frozen=True)
class DigestTechnique:
    name: str
    revoked: bool
    deprecated: bool
    domain: str


def digest_techniques(session: Session) -> dict[str, DigestTechnique]:
    out: dict[str, DigestTechnique] = {}
    rows = session.execute(
        select(Technique.attack_id, Technique.name, Technique.revoked, Technique.deprecated, Technique.domain)
    ).all()
    for attack_id, name, revoked, deprecated, domain in rows:
        current = out.get(attack_id)
        if current is None or ((current.revoked or current.deprecated) and not (revoked or deprecated)):
            out[attack_id] = DigestTechnique(name, bool(revoked), bool(deprecated), domain)
    return out


def mapped_names(session: Session, ids: Iterable[str]) -> dict[str, str]:
    """Names as the mapping files wrote them, for IDs the loaded ATT&CK does not know."""
    wanted = list(ids)
    if not wanted:
        return {}
    rows = session.execute(
        select(Mapping.attack_id, func.max(Mapping.attack_name))
        .where(Mapping.attack_id.in_(wanted))
        .group_by(Mapping.attack_id)
    ).all()
    return {a: n for a, n in rows if a and n}


def technique_of_the_day_candidates(
    session: Session, techs: dict[str, DigestTechnique], releases: Sequence[ReleaseInfo]
) -> dict[str, list[str]]:
    """Per framework, the current enterprise techniques its newest enterprise release maps,
    sorted: a channel's technique of the day comes from its own frameworks' lists, so it always
    has controls to show there."""

    every = list(dict.fromkeys(i.ref.framework for i in releases))
    newest = pick_releases(releases, every, Filters(), "enterprise")
    pks = {info.pk: fw for fw, info in newest.items()}
    out: dict[str, set[str]] = defaultdict(set)
    if pks:
        rows = session.execute(
            select(Mapping.release_id, Mapping.attack_id)
            .where(
                Mapping.release_id.in_(list(pks)),
                Mapping.attack_id.is_not(None),
                Mapping.capability_id.is_not(None),
                func.coalesce(Mapping.status, "") != "non_mappable",
            )
            .distinct()
        ).all()
        for pk, tid in rows:
            t = techs.get(tid) if tid else None
            if tid and t is not None and not t.revoked and not t.deprecated and t.domain == "enterprise":
                out[pks[pk]].add(tid)
    return {fw: sorted(ids) for fw, ids in out.items()}


def previous_sent(session: Session, sub_ids: Sequence[int]) -> dict[int, dt.datetime]:
    ids = [i for i in sub_ids if i]
    if not ids:
        return {}
    rows = session.execute(
        select(DigestRun.subscription_id, func.max(DigestRun.sent_at))
        .where(DigestRun.subscription_id.in_(ids), DigestRun.status == "sent")
        .group_by(DigestRun.subscription_id)
    ).all()
    return {sid: _as_utc(at) for sid, at in rows if at is not None}


def channel_activity(
    session: Session, channels: set[tuple[str, str]], since: dt.datetime
) -> dict[tuple[str, str], Counter[str]]:
    """Technique mentions per (team, channel) since ``since``: look-ups plus incident cards."""
    out: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    if not channels:
        return out
    channel_ids = sorted({c for _, c in channels})
    # A posted card is both a look-up (source "card") and an incident_cards row: count the row.
    for team_id, channel_id, ids in session.execute(
        select(Lookup.team_id, Lookup.channel_id, Lookup.technique_ids).where(
            Lookup.created_at >= since, Lookup.channel_id.in_(channel_ids), Lookup.source != "card"
        )
    ):
        key = (team_id, channel_id or "")
        if key in channels and ids:
            out[key].update(str(i).upper() for i in ids if isinstance(i, str))
    for team_id, channel_id, tid in session.execute(
        select(IncidentCard.team_id, IncidentCard.channel_id, IncidentCard.technique_id).where(
            IncidentCard.posted_at >= since, IncidentCard.channel_id.in_(channel_ids)
        )
    ):
        key = (team_id, channel_id)
        if key in channels:
            out[key][tid.upper()] += 1
    return out


def changed_releases(session: Session, since: dt.datetime) -> list[ReleaseChange]:
    rows = session.execute(
        select(
            Release.framework,
            Release.framework_version,
            Release.attack_version,
            Release.domain,
            Release.last_update,
            Release.mapping_version,
            Release.loaded_at,
            Release.mapping_count,
        ).where(Release.loaded_at > since)
    ).all()
    out = [
        ReleaseChange(
            ReleaseRef(
                framework=r.framework,
                framework_version=r.framework_version,
                attack_version=r.attack_version,
                domain=r.domain,
                last_update=r.last_update.isoformat() if r.last_update else None,
                mapping_version=r.mapping_version or None,
            ),
            _as_utc(r.loaded_at),
            r.mapping_count or 0,
        )
        for r in rows
    ]
    out.sort(key=lambda c: (c.release.framework, c.loaded_at))
    return out


def sync_times(session: Session, since: dt.datetime) -> list[dt.datetime]:
    return [
        _as_utc(t)
        for t in session.scalars(select(SyncRun.finished_at).where(SyncRun.finished_at > since))
        if t is not None
    ]


def new_kev(session: Session, since: dt.datetime) -> list[KevChange]:
    caps = session.execute(
        select(Capability.capability_id, Capability.name, Capability.first_seen_at).where(
            Capability.framework == "kev", Capability.first_seen_at > since
        )
    ).all()
    if not caps:
        return []
    techniques: dict[str, set[str]] = defaultdict(set)
    ids = [c.capability_id for c in caps]
    for i in range(0, len(ids), 500):
        for cve, tid in session.execute(
            select(Mapping.capability_id, Mapping.attack_id)
            .where(
                Mapping.framework == "kev",
                Mapping.capability_id.in_(ids[i : i + 500]),
                Mapping.attack_id.is_not(None),
            )
            .distinct()
        ):
            if cve and tid:
                techniques[cve].add(tid)
    out = [
        KevChange(
            c.capability_id,
            c.name or "",
            tuple(sorted(techniques.get(c.capability_id, ()))),
            _as_utc(c.first_seen_at),
        )
        for c in caps
    ]
    out.sort(key=lambda k: (k.first_seen_at, k.cve), reverse=True)
    return out


def technique_states(session: Session, ids: Sequence[str]) -> dict[str, tuple[bool, bool, str | None]] | None:
    """(revoked, deprecated, revoked_by) of each of ``ids`` the loaded ATT&CK has (a current
    object preferred where an ID is in several domains); None when no ATT&CK is loaded at all."""
    if session.scalar(select(Technique.id).limit(1)) is None:
        return None
    rows = session.execute(
        select(Technique.attack_id, Technique.revoked, Technique.deprecated, Technique.revoked_by).where(
            Technique.attack_id.in_(list(ids))
        )
    ).all()
    by_id: dict[str, tuple[bool, bool, str | None]] = {}
    for attack_id, revoked, deprecated, revoked_by in rows:
        current = by_id.get(attack_id)
        if current is None or (current[0] and not revoked):
            by_id[attack_id] = (bool(revoked), bool(deprecated), revoked_by)
    return by_id
