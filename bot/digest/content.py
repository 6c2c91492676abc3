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
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from bot.coverage.service import gap_report
from bot.coverage.views import GapReport, Subject
from bot.digest.clock import as_utc
from store.reads.digest import KevChange, ReleaseChange
from store.state.scope import StateReads
from store.state.subscriptions import Subscription
from store.views import ControlLine, Coverage

RECENT_WINDOW = dt.timedelta(hours=24)
MAX_CHANGES_WINDOW = dt.timedelta(days=7)  # a channel silent for a month gets a week of news
TOP_CONTROLS = 3
_R = TypeVar("_R")  # what a cached per-technique query returns


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
    def of(cls, sub: Subscription) -> SubscriptionSpec:
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
    # A watched group, software or campaign (G0016, S1202): its techniques, and per framework
    # (subscription's order) how many of them the framework's newest release maps.
    threat: bool = False
    techniques: int = 0
    covered: tuple[tuple[str, int], ...] = ()


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


def pick_technique_of_the_day(candidates: Sequence[str], day: dt.date) -> str | None:
    """Deterministic from the date alone (same pick on every instance and every re-run), but
    hashed so that consecutive days do not walk through neighbouring IDs."""
    if not candidates:
        return None
    digest = hashlib.sha256(f"countermap-technique-of-the-day:{day.isoformat()}".encode()).digest()
    return candidates[int.from_bytes(digest[:8], "big") % len(candidates)]


# --------------------------------------------------------------------------- composition


def compose(
    data: StateReads,
    specs: Sequence[SubscriptionSpec],
    *,
    now: dt.datetime,
    local_date_for: Callable[[SubscriptionSpec], dt.date],
) -> list[DigestView]:
    """The digests of ``specs`` as of ``now``, in order; read-only."""
    if not specs:
        return []
    return Composer(data, now).compose(data, specs, local_date_for=local_date_for)


class Composer:
    """What every digest of one pass shares (ATT&CK names, the technique-of-the-day candidates,
    a week of data changes, the releases), loaded once; ``compose`` then adds each batch's
    channel activity, coverage and controls."""

    def __init__(self, data: StateReads, now: dt.datetime) -> None:
        self.now = as_utc(now)
        self.techs = data.digest_techniques()
        horizon = self.now - MAX_CHANGES_WINDOW
        self.releases_changed = data.changed_releases(horizon)
        self.syncs = data.sync_times(horizon)
        self.kev = data.new_kev(horizon)
        self.releases = list(data.static().releases)
        self.candidates = data.technique_of_the_day_candidates(self.techs, self.releases)
        self._changes: dict[tuple[dt.datetime, tuple[str, ...]], DataChanges] = {}
        # technique → (frameworks asked, result): later batches reuse what earlier ones read
        self._coverage: dict[str, tuple[frozenset[str], dict[str, Coverage]]] = {}
        self._controls: dict[str, tuple[frozenset[str], list[ControlLine]]] = {}

    @staticmethod
    def _cached(
        cache: dict[str, tuple[frozenset[str], _R]],
        ids: Sequence[str],
        frameworks: Sequence[str],
        query: Callable[[list[str], list[str]], dict[str, _R]],
    ) -> dict[str, _R]:
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
            for t, result in query(missing, ordered).items():
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
        data: StateReads,
        specs: Sequence[SubscriptionSpec],
        *,
        local_date_for: Callable[[SubscriptionSpec], dt.date],
    ) -> list[DigestView]:

        now, techs = self.now, self.techs
        if not specs:
            return []
        prev = data.previous_sent([s.id for s in specs])
        since_for = {}
        for s in specs:
            since = max(prev.get(s.id, now - RECENT_WINDOW), now - MAX_CHANGES_WINDOW)
            if s.active_since is not None and s.id not in prev:
                since = max(since, s.active_since)
            since_for[s.id] = min(since, now)
        activity = data.channel_activity({(s.team_id, s.channel_id) for s in specs}, now - RECENT_WINDOW)
        for counts in activity.values():  # actor cards (by group or software ID) are not techniques
            for key in [k for k in counts if THREAT_ID.match(k)]:
                del counts[key]
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
        watched = list(dict.fromkeys(t for s in specs for t in s.watch if not THREAT_ID.match(t)))
        noted = list(
            dict.fromkeys(
                [t for s in specs for t in activity.get((s.team_id, s.channel_id), {})]
                + [t for t in tod.values() if t]
            )
        )
        coverage = self._cached(self._coverage, watched, all_fws, data.technique_coverage)
        per_fw_controls = self._cached(
            self._controls,
            noted,
            all_fws,
            lambda ids, fws: data.top_controls(
                ids, fws, TOP_CONTROLS, per_framework=True, releases=self.releases
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
            if t not in techs and not THREAT_ID.match(t)
        }
        fallback_names = data.mapped_names(unknown)

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
                if THREAT_ID.match(tid):
                    watch.append(threat_watch_line(data, tid, s.frameworks))
                    continue
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
            reports = _coverage_reports(data, s, [t.id for t in recent] + ([day_pick] if day_pick else []))
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


THREAT_ID = re.compile(r"^[GSC]\d{4}$")


def threat_watch_line(data: StateReads, attack_id: str, frameworks: Sequence[str]) -> WatchLine:
    """A watched threat: how many of its techniques each framework's newest release maps."""
    view = data.threat_by_id(attack_id, frameworks=frameworks)
    if view is None:
        return WatchLine(attack_id, "", (), known=False, threat=True)
    n = len(view.technique_ids)
    covered = tuple((fc.framework, n - len(fc.unmapped)) for fc in view.coverage)
    return WatchLine(attack_id, view.threat.name, (), threat=True, techniques=n, covered=covered)


def _coverage_reports(data: StateReads, spec: SubscriptionSpec, day: Sequence[str]) -> tuple[GapReport, ...]:
    """The inventory (the channel's own, else the workspace's) against the day's techniques and
    the watch list; nothing without the option or without an inventory."""
    if not spec.coverage:
        return ()
    inventory = data.effective_inventory(spec.team_id, spec.channel_id)
    if inventory is None:
        return ()
    out = []
    today = list(dict.fromkeys(day))
    if today:
        out.append(gap_report(data, Subject("techniques", "today", "today's techniques"), today, inventory))
    if spec.watch:
        techniques: list[str] = []
        for w in spec.watch:  # a watched threat counts with its techniques
            if not THREAT_ID.match(w):
                techniques.append(w)
            elif (threat := data.threat_by_id(w, coverage=False)) is not None:
                techniques.extend(threat.technique_ids)
        watched = list(dict.fromkeys(techniques))
        out.append(gap_report(data, Subject("watch", "watch", "the watch list"), watched, inventory))
    return tuple(out)
