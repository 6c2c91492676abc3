"""What a control family and a whole framework hold (group and framework answers)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import bindparam, func, select

from store.models import (
    Capability,
    Mapping,
)
from store.reads.fast import Source, _q, reader
from store.reads.lines import _LIVE, _ids
from store.reads.releases import NO_FILTERS, _matches
from store.reads.static import static
from store.views import Filters, FrameworkView, GroupMember, GroupView, ReleaseSummary

_GROUP_CAPABILITIES = select(Capability.capability_id, Capability.name).where(
    Capability.framework == bindparam("fw"), Capability.group == bindparam("group")
)
_GROUP_COUNTS = (
    select(Mapping.capability_id, Mapping.capability_name, func.count())
    .where(
        Mapping.release_id == bindparam("pk"),
        Mapping.capability_group == bindparam("group"),
        Mapping.attack_id.is_not(None),
        _LIVE,
    )
    .group_by(Mapping.capability_id, Mapping.capability_name)
)
_RELEASE_STATS = (
    select(
        Mapping.release_id,
        func.count(Mapping.capability_id.distinct()),
        func.count(Mapping.attack_id.distinct()),
    )
    .where(Mapping.release_id.in_(_ids("pks")), _LIVE)
    .group_by(Mapping.release_id)
)
_RELEASE_TYPES = (
    select(Mapping.release_id, Mapping.mapping_type, func.count())
    .where(Mapping.release_id.in_(_ids("pks")), _LIVE)
    .group_by(Mapping.release_id, Mapping.mapping_type)
    .order_by(func.count().desc())
)


def group_view(session: Source, framework: str, group_id: str, *, filters: Filters = NO_FILTERS) -> GroupView:
    session = reader(session)
    releases = list(static(session).releases)
    candidates = [
        i for i in releases if i.ref.framework == framework and _matches(i, filters, filters.domain)
    ]
    info = candidates[0] if candidates else None
    name = group_id
    for i in releases:
        if i.ref.framework == framework and isinstance(i.capability_groups.get(group_id), str):
            name = i.capability_groups[group_id]
            break
    caps = _q(session, _GROUP_CAPABILITIES, {"fw": framework, "group": group_id})
    counts: dict[str, int] = {}
    names = {c.capability_id: (c.name or c.capability_id).strip() for c in caps}
    if info:
        rows = _q(session, _GROUP_COUNTS, {"pk": info.pk, "group": group_id})
        for cid, cname, n in rows:
            if cid:
                counts[cid] = counts.get(cid, 0) + int(n)
                names.setdefault(cid, (cname or cid).strip())
    members = tuple(
        sorted(
            (GroupMember(cid, names.get(cid, cid), counts.get(cid, 0)) for cid in names),
            key=lambda m: (-m.count, m.id),
        )
    )
    return GroupView(
        framework, group_id, name, info.ref if info else None, members, sum(counts.values()), filters
    )


def framework_view(session: Source, framework: str, *, filters: Filters = NO_FILTERS) -> FrameworkView:
    session = reader(session)
    releases = [
        i
        for i in list(static(session).releases)
        if i.ref.framework == framework and _matches(i, filters, filters.domain)
    ]
    pks = [i.pk for i in releases]
    stats: dict[int, tuple[int, int]] = {}
    types: dict[int, list[tuple[str, int]]] = defaultdict(list)
    if pks:
        for pk, caps, techs in _q(session, _RELEASE_STATS, {"pks": pks}):
            stats[pk] = (int(caps), int(techs))
        for pk, mt, n in _q(session, _RELEASE_TYPES, {"pks": pks}):
            info = next(i for i in releases if i.pk == pk)
            types[pk].append((info.type_label(mt or ""), int(n)))
    return FrameworkView(
        framework=framework,
        releases=tuple(
            ReleaseSummary(
                i.ref,
                i.mapping_count,
                i.non_mappable_count,
                stats.get(i.pk, (0, 0))[0],
                stats.get(i.pk, (0, 0))[1],
                tuple(types.get(i.pk, [])),
            )
            for i in releases
        ),
        filters=filters,
    )


# --------------------------------------------------------------------------- CVE / compare
