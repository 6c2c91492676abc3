"""What a digest says, as plain data: composed for many subscriptions in a few queries.

Per channel: the techniques looked up or carded there in the last 24 hours with their top
controls, the watch list with coverage per framework, data changes since the channel's previous
digest (releases loaded, ``sync`` runs, new KEV CVEs with their techniques) and a technique of
the day chosen from the date.  Everything that does not depend on the channel (the technique of
the day, changed releases, new CVEs, coverage) is computed once per pass and shared, so 1,000
subscriptions cost a handful of queries rather than thousands.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.coverage.service import gap_report
from bot.coverage.views import GapReport, Subject
from bot.digest.clock import as_utc
from store.app_state import DigestRun, DigestSubscription, IncidentCard, Lookup, SyncRun
from store.models import Capability, Mapping, Release, Technique
from store.reads.releases import ReleaseInfo
from store.state.inventory import effective_in
from store.views import ControlLine, Coverage, Filters, ReleaseRef

RECENT_WINDOW = dt.timedelta(hours=24)
MAX_CHANGES_WINDOW = dt.timedelta(days=7)  # a channel silent for a month gets a week of news
TOP_CONTROLS = 3


@dataclass(frozen=True)
class SubscriptionSpec:
    """The parts of a subscription composing needs, detached from the ORM session."""

    id: int
    team_id: str
    channel_id: str
    time_local: str
    timezone: str
    frameworks: tuple[str, ...]
    watch: tuple[str, ...]
    post_when_quiet: bool
    enterprise_id: str | None = None
    coverage: bool = False  # report the inventory's coverage of the day's techniques and watch list
    active_since: dt.datetime | None = None  # changes before subscribing are not news

    @classmethod
    def of(cls, sub: DigestSubscription) -> SubscriptionSpec:
        return cls(
            id=sub.id,
            team_id=sub.team_id,
            channel_id=sub.channel_id,
            time_local=sub.time_local,
            timezone=sub.timezone,
            frameworks=tuple(sub.frameworks or ()),
            watch=tuple(sub.watch or ()),
            post_when_quiet=bool(sub.post_when_quiet),
            coverage=bool(sub.coverage),
            enterprise_id=sub.enterprise_id,
            active_since=as_utc(sub.active_since) if sub.active_since else None,
        )


@dataclass(frozen=True)
class TechniqueLine:
    id: str
    name: str
    mentions: int = 0  # look-ups and cards in the channel
    controls: tuple[ControlLine, ...] = ()
    known: bool = True  # False: not in the loaded ATT&CK


@dataclass(frozen=True)
class WatchLine:
    id: str
    name: str
    coverage: tuple[Coverage, ...]  # subscription's framework order; absent = no release in domain
    known: bool = True


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
class DataChanges:
    releases: tuple[ReleaseChange, ...] = ()
    syncs: int = 0  # sync/ingest runs that changed data
    kev: tuple[KevChange, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.releases and not self.kev


@dataclass(frozen=True)
class DigestView:
    subscription: SubscriptionSpec
    local_date: dt.date
    generated_at: dt.datetime
    since: dt.datetime  # data changes are reported from here
    recent: tuple[TechniqueLine, ...]
    watch: tuple[WatchLine, ...]
    changes: DataChanges
    technique_of_day: TechniqueLine | None
    frameworks: tuple[str, ...] = field(default=())
    # With the subscription's coverage option: the inventory against the day's techniques
    # (looked up here, and the technique of the day) and against the watch list.
    coverage: tuple[GapReport, ...] = ()
    coverage_asked: bool = False  # the option is on (even when there is no inventory to report)

    @property
    def quiet(self) -> bool:
        """Nothing happened: no look-ups in the channel and no data changes."""
        return not self.recent and self.changes.empty


# --------------------------------------------------------------------------- shared lookups


@dataclass(frozen=True)
class _Tech:
    name: str
    revoked: bool
    deprecated: bool
    domain: str


def _techniques(session: Session) -> dict[str, _Tech]:
    out: dict[str, _Tech] = {}
    rows = session.execute(
        select(Technique.attack_id, Technique.name, Technique.revoked, Technique.deprecated, Technique.domain)
    ).all()
    for attack_id, name, revoked, deprecated, domain in rows:
        current = out.get(attack_id)
        if current is None or ((current.revoked or current.deprecated) and not (revoked or deprecated)):
            out[attack_id] = _Tech(name, bool(revoked), bool(deprecated), domain)
    return out


def _mapped_names(session: Session, ids: Iterable[str]) -> dict[str, str]:
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
    session: Session, techs: dict[str, _Tech], releases: Sequence[ReleaseInfo]
) -> dict[str, list[str]]:
    """Per framework, the current enterprise techniques its newest enterprise release maps,
    sorted: a channel's technique of the day comes from its own frameworks' lists, so it always
    has controls to show there."""
    from store.reads.releases import pick_releases

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


def pick_technique_of_the_day(candidates: Sequence[str], day: dt.date) -> str | None:
    """Deterministic from the date alone (same pick on every instance and every re-run), but
    hashed so that consecutive days do not walk through neighbouring IDs."""
    if not candidates:
        return None
    digest = hashlib.sha256(f"countermap-technique-of-the-day:{day.isoformat()}".encode()).digest()
    return candidates[int.from_bytes(digest[:8], "big") % len(candidates)]


def _previous_sent(session: Session, sub_ids: Sequence[int]) -> dict[int, dt.datetime]:
    ids = [i for i in sub_ids if i]
    if not ids:
        return {}
    rows = session.execute(
        select(DigestRun.subscription_id, func.max(DigestRun.sent_at))
        .where(DigestRun.subscription_id.in_(ids), DigestRun.status == "sent")
        .group_by(DigestRun.subscription_id)
    ).all()
    return {sid: as_utc(at) for sid, at in rows if at is not None}


def _channel_activity(
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


def _changed_releases(session: Session, since: dt.datetime) -> list[ReleaseChange]:
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
            as_utc(r.loaded_at),
            r.mapping_count or 0,
        )
        for r in rows
    ]
    out.sort(key=lambda c: (c.release.framework, c.loaded_at))
    return out


def _sync_times(session: Session, since: dt.datetime) -> list[dt.datetime]:
    return [
        as_utc(t)
        for t in session.scalars(select(SyncRun.finished_at).where(SyncRun.finished_at > since))
        if t is not None
    ]


def _new_kev(session: Session, since: dt.datetime) -> list[KevChange]:
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
            as_utc(c.first_seen_at),
        )
        for c in caps
    ]
    out.sort(key=lambda k: (k.first_seen_at, k.cve), reverse=True)
    return out


# --------------------------------------------------------------------------- composition


def compose(
    session: Session,
    specs: Sequence[SubscriptionSpec],
    *,
    now: dt.datetime,
    local_date_for: Callable[[SubscriptionSpec], dt.date],
) -> list[DigestView]:
    """The digests of ``specs`` as of ``now``, in order; read-only."""
    if not specs:
        return []
    return Composer(session, now).compose(session, specs, local_date_for=local_date_for)


class Composer:
    """What every digest of one pass shares (ATT&CK names, the technique-of-the-day candidates,
    a week of data changes, the releases), loaded once; ``compose`` then adds each batch's
    channel activity, coverage and controls."""

    def __init__(self, session: Session, now: dt.datetime) -> None:
        from store.reads.static import static

        self.now = as_utc(now)
        self.techs = _techniques(session)
        horizon = self.now - MAX_CHANGES_WINDOW
        self.releases_changed = _changed_releases(session, horizon)
        self.syncs = _sync_times(session, horizon)
        self.kev = _new_kev(session, horizon)
        self.releases = list(static(session).releases)
        self.candidates = technique_of_the_day_candidates(session, self.techs, self.releases)
        self._changes: dict[tuple[dt.datetime, tuple[str, ...]], DataChanges] = {}
        # technique → (frameworks asked, result): later batches reuse what earlier ones read
        self._coverage: dict[str, tuple[frozenset[str], dict[str, Coverage]]] = {}
        self._controls: dict[str, tuple[frozenset[str], list[ControlLine]]] = {}

    @staticmethod
    def _cached(
        cache: dict[str, tuple[frozenset[str], Any]],
        session: Session,
        ids: Sequence[str],
        frameworks: Sequence[str],
        query: Callable[[Session, list[str], list[str]], dict[str, Any]],
    ) -> dict[str, Any]:
        """``query`` (a per-framework batch query) for the techniques not yet asked about with
        these frameworks; one call per batch, the rest from earlier batches of the pass."""
        if not ids or not frameworks:
            return {}
        wanted = frozenset(frameworks)
        missing = [t for t in ids if t not in cache or not wanted <= cache[t][0]]
        if missing:
            fws = set(wanted)
            for t in missing:
                if t in cache:
                    fws |= cache[t][0]
            ordered = sorted(fws)
            for t, result in query(session, missing, ordered).items():
                cache[t] = (frozenset(ordered), result)
        return {t: cache[t][1] for t in ids if t in cache}

    def changes_since(self, since: dt.datetime, frameworks: Sequence[str]) -> DataChanges:
        """Releases of the channel's frameworks loaded since ``since``, and every new KEV CVE
        (known-exploited vulnerabilities matter whatever frameworks a channel follows)."""
        key = (since, tuple(frameworks))
        if key not in self._changes:
            self._changes[key] = DataChanges(
                releases=tuple(
                    c
                    for c in self.releases_changed
                    if c.loaded_at > since and c.release.framework in frameworks
                ),
                syncs=sum(1 for t in self.syncs if t > since),
                kev=tuple(k for k in self.kev if k.first_seen_at > since),
            )
        return self._changes[key]

    def compose(
        self,
        session: Session,
        specs: Sequence[SubscriptionSpec],
        *,
        local_date_for: Callable[[SubscriptionSpec], dt.date],
    ) -> list[DigestView]:
        from store.reads.compare import technique_coverage, top_controls

        now, techs = self.now, self.techs
        if not specs:
            return []
        prev = _previous_sent(session, [s.id for s in specs])
        since_for = {}
        for s in specs:
            since = max(prev.get(s.id, now - RECENT_WINDOW), now - MAX_CHANGES_WINDOW)
            if s.active_since is not None and s.id not in prev:
                since = max(since, s.active_since)
            since_for[s.id] = min(since, now)
        activity = _channel_activity(session, {(s.team_id, s.channel_id) for s in specs}, now - RECENT_WINDOW)
        dates = {s.id: local_date_for(s) for s in specs}

        def candidates(fws: tuple[str, ...]) -> list[str]:
            return sorted({t for fw in fws for t in self.candidates.get(fw, ())})

        tod = {
            (dates[s.id], s.frameworks): pick_technique_of_the_day(candidates(s.frameworks), dates[s.id])
            for s in specs
        }

        # One batched call of each store query for every framework any subscription follows; each
        # digest then takes its own frameworks' part (coverage is per framework anyway, and the top
        # controls are re-interleaved in the subscription's framework order, as top_controls does).
        all_fws = list(dict.fromkeys(f for s in specs for f in s.frameworks))
        watched = list(dict.fromkeys(t for s in specs for t in s.watch))
        noted = list(
            dict.fromkeys(
                [t for s in specs for t in activity.get((s.team_id, s.channel_id), {})]
                + [t for t in tod.values() if t]
            )
        )
        coverage = self._cached(self._coverage, session, watched, all_fws, technique_coverage)
        per_fw_controls = self._cached(
            self._controls,
            session,
            noted,
            all_fws,
            lambda sess, ids, fws: top_controls(
                sess, ids, fws, TOP_CONTROLS, per_framework=True, releases=self.releases
            ),
        )
        controls_memo: dict[tuple[str, tuple[str, ...]], tuple[ControlLine, ...]] = {}

        def controls_for(tid: str, fws: tuple[str, ...]) -> tuple[ControlLine, ...]:
            key = (tid, fws)
            if key not in controls_memo:
                by_fw: dict[str, list[ControlLine]] = defaultdict(list)
                for c in per_fw_controls.get(tid, ()):
                    by_fw[c.framework].append(c)
                queues = [list(by_fw.get(f, ())) for f in fws]
                picked: list[ControlLine] = []
                while len(picked) < TOP_CONTROLS and any(queues):
                    for q in queues:
                        if q and len(picked) < TOP_CONTROLS:
                            picked.append(q.pop(0))
                controls_memo[key] = tuple(picked)
            return controls_memo[key]

        unknown = {
            t
            for s in specs
            for t in (*s.watch, *activity.get((s.team_id, s.channel_id), {}))
            if t not in techs
        }
        fallback_names = _mapped_names(session, unknown)

        def name_of(tid: str) -> tuple[str, bool]:
            t = techs.get(tid)
            if t is not None:
                return t.name, True
            return fallback_names.get(tid, ""), False

        views: list[DigestView] = []
        for s in specs:
            since = since_for[s.id]
            counts = activity.get((s.team_id, s.channel_id), Counter())
            recent = []
            for tid, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
                name, known = name_of(tid)
                recent.append(TechniqueLine(tid, name, n, controls_for(tid, s.frameworks), known))
            watch = []
            for tid in s.watch:
                name, known = name_of(tid)
                per = coverage.get(tid, {})
                watch.append(WatchLine(tid, name, tuple(per[f] for f in s.frameworks if f in per), known))
            day_pick = tod[(dates[s.id], s.frameworks)]
            tod_line = (
                TechniqueLine(day_pick, techs[day_pick].name, 0, controls_for(day_pick, s.frameworks))
                if day_pick
                else None
            )
            changes = self.changes_since(since, s.frameworks)
            reports = _coverage_reports(session, s, [t.id for t in recent] + ([day_pick] if day_pick else []))
            views.append(
                DigestView(
                    subscription=s,
                    local_date=dates[s.id],
                    generated_at=now,
                    since=since,
                    recent=tuple(recent),
                    watch=tuple(watch),
                    changes=changes,
                    technique_of_day=tod_line,
                    frameworks=s.frameworks,
                    coverage=reports,
                    coverage_asked=s.coverage,
                )
            )
        return views


def _coverage_reports(session: Session, spec: SubscriptionSpec, day: Sequence[str]) -> tuple[GapReport, ...]:
    """The inventory (the channel's own, else the workspace's) against the day's techniques and
    the watch list; nothing without the option or without an inventory."""
    if not spec.coverage:
        return ()
    inventory = effective_in(session, spec.team_id, spec.channel_id)
    if inventory is None:
        return ()
    out = []
    today = list(dict.fromkeys(day))
    if today:
        out.append(
            gap_report(session, Subject("techniques", "today", "today's techniques"), today, inventory)
        )
    if spec.watch:
        out.append(
            gap_report(session, Subject("watch", "watch", "the watch list"), list(spec.watch), inventory)
        )
    return tuple(out)
