"""Who uses a technique: the groups, software and campaigns whose ``uses`` links reach it.

Every technique answer shows a "used by" line, so the links are read once per data version
(about 17,700 rows) into an in-memory table keyed by technique, kept with the version's
``StaticInfo``: the line costs a dictionary look-up, not a join.  The full list, with the
procedure texts, is read per technique when asked for (``technique_users``)."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import bindparam, select

from store.models import Threat, ThreatLink
from store.reads.fast import Source, _q, reader
from store.reads.static import StaticInfo, static
from store.threat_views import TechniqueUser, TechniqueUsers
from store.views import ThreatName, UsedBy

__all__ = ["prime_used_by", "technique_users", "used_by"]

TOP = 5  # names on the line
_KIND_ORDER = {"group": 0, "software": 1, "campaign": 2}
_LIVE_THREAT = (Threat.revoked.is_(False), Threat.deprecated.is_(False))

_ALL_USES = select(ThreatLink.target_attack_id, Threat.attack_id, Threat.name, Threat.kind, Threat.url).where(
    ThreatLink.source_pk == Threat.id,
    ThreatLink.relationship == "uses",
    ThreatLink.target_kind == "technique",
    *_LIVE_THREAT,
)
_USES_OF = (
    select(
        ThreatLink.target_attack_id,
        Threat.attack_id,
        Threat.name,
        Threat.kind,
        Threat.url,
        Threat.domain,
        ThreatLink.description,
    )
    .where(
        ThreatLink.source_pk == Threat.id,
        ThreatLink.relationship == "uses",
        ThreatLink.target_attack_id.in_(bindparam("tids", expanding=True)),
        *_LIVE_THREAT,
    )
    .order_by(Threat.attack_id)
)


class _Table:
    """Per technique, its users as ``ThreatName``s, best known first, and the counts per kind."""

    def __init__(self, rows: list[Any], info: StaticInfo) -> None:
        techniques = info.catalogue.techniques
        names: dict[str, ThreatName] = {}
        users: dict[str, set[str]] = defaultdict(set)
        reach: dict[str, set[str]] = defaultdict(set)  # threat -> techniques, for prominence
        for r in rows:
            tid = _current(r.target_attack_id, techniques)
            names.setdefault(r.attack_id, ThreatName(r.attack_id, r.name, r.kind, r.url))
            users[tid].add(r.attack_id)
            reach[r.attack_id].add(tid)
        self.lines: dict[str, UsedBy] = {}
        self.order: dict[str, int] = {}
        ranked = sorted(names, key=lambda i: (-len(reach[i]), names[i].name.lower()))
        self.order = {i: n for n, i in enumerate(ranked)}
        for tid, ids in users.items():
            kinds = [names[i].kind for i in ids]
            best = sorted(ids, key=lambda i: (_KIND_ORDER.get(names[i].kind, 9), self.order[i]))
            named = [names[i] for i in best if names[i].kind != "campaign"] or [names[i] for i in best]
            self.lines[tid] = UsedBy(
                kinds.count("group"), kinds.count("software"), kinds.count("campaign"), tuple(named[:TOP])
            )


def _current(tid: str, techniques: dict[str, Any]) -> str:
    """A revoked technique's replacement (followed a few steps), else the ID itself."""
    for _ in range(5):
        row = techniques.get(tid)
        if row is None or not row.revoked or not row.revoked_by:
            return tid
        tid = row.revoked_by
    return tid


_TABLES: WeakKeyDictionary[StaticInfo, _Table] = WeakKeyDictionary()
_LOCK = threading.Lock()


def _table(source: Source, info: StaticInfo) -> _Table:
    found = _TABLES.get(info)
    if found is None:
        with _LOCK:
            found = _TABLES.get(info)
            if found is None:
                found = _TABLES[info] = _Table(_q(reader(source), _ALL_USES), info)
    return found


def prime_used_by(source: Source, info: StaticInfo) -> None:
    """Build the table for ``info``'s data version now (the Answerer does it with the index,
    off the request path)."""
    _table(source, info)


def used_by(source: Source, technique_id: str) -> UsedBy | None:
    """The "used by" line of a technique; None when nothing uses it."""
    return _table(source, static(source)).lines.get(technique_id)


def technique_users(source: Source, technique_id: str) -> TechniqueUsers:
    """Every group, software and campaign using the technique, with its procedure text; links
    to a revoked ID that this technique replaces count, saying so."""
    info = static(source)
    techniques = info.catalogue.techniques
    tid = technique_id.upper()
    replaced = sorted(i for i, r in techniques.items() if r.revoked and _current(i, techniques) == tid)
    ids = [tid, *replaced]
    order = _table(source, info).order
    seen: dict[str, TechniqueUser] = {}
    for r in _q(reader(source), _USES_OF, {"tids": ids}):
        if r.attack_id in seen and not r.description:
            continue
        via = r.target_attack_id if r.target_attack_id != tid else None
        seen[r.attack_id] = TechniqueUser(r.attack_id, r.name, r.kind, r.url, r.description, via)
    users = sorted(seen.values(), key=lambda u: (_KIND_ORDER.get(u.kind, 9), order.get(u.attack_id, 10**6)))
    own = techniques.get(tid)
    return TechniqueUsers(tid, own.name if own else tid, own.domain if own else "enterprise", tuple(users))
