"""Which techniques a control maps (the capability answer)."""

from __future__ import annotations

from collections import defaultdict
from operator import attrgetter

from sqlalchemy import bindparam, select

from store.models import (
    Capability,
    CapabilityDescription,
)
from store.reads.catalogue import _other_releases, _techniques, tactic_names
from store.reads.fast import Source, _q, _scalars, reader
from store.reads.lines import (
    _CAPABILITY_PRESENCE,
    _CAPABILITY_ROWS,
    _is_non_mappable,
    _lines,
    filter_mapped,
    group_lines,
    unfiltered_note,
)
from store.reads.releases import NO_FILTERS, _matches, version_key
from store.reads.static import static
from store.views import (
    CapabilityRef,
    CapabilityView,
    Filters,
    MappingLine,
    Note,
    TacticGroup,
    Tally,
    score_rank,
)

_CAPABILITY = select(
    Capability.capability_id, Capability.name, Capability.group, Capability.group_name
).where(Capability.framework == bindparam("fw"), Capability.capability_id == bindparam("cid"))
_CAPABILITY_DESCRIBED = select(
    Capability.capability_id,
    Capability.name,
    Capability.group,
    Capability.group_name,
    Capability.description,
).where(Capability.framework == bindparam("fw"), Capability.capability_id == bindparam("cid"))
_DESCRIPTIONS = select(CapabilityDescription.framework_version, CapabilityDescription.description).where(
    CapabilityDescription.framework == bindparam("fw"),
    CapabilityDescription.capability_id == bindparam("cid"),
)
_STORED_DESCRIPTION = select(Capability.description).where(
    Capability.framework == bindparam("fw"), Capability.capability_id == bindparam("cid")
)


def _capability_ref(session: Source, framework: str, capability_id: str) -> CapabilityRef:
    return _capability(session, framework, capability_id)[0]


def _capability(
    session: Source, framework: str, capability_id: str, *, described: bool = False
) -> tuple[CapabilityRef, list[str | None]]:
    """The capability, and (``described``) its stored description as ``[text]``, ``[]`` when
    the capability is not stored."""
    stmt = _CAPABILITY_DESCRIBED if described else _CAPABILITY
    found = _q(session, stmt, {"fw": framework, "cid": capability_id})
    if not found:
        return CapabilityRef(framework, capability_id, capability_id), []
    cap = found[0]
    ref = CapabilityRef(
        framework, cap.capability_id, (cap.name or cap.capability_id).strip(), cap.group, cap.group_name
    )
    return ref, [cap.description] if described else []


def _capability_description(
    session: Source,
    framework: str,
    capability_id: str,
    framework_version: str | None,
    stored: list[str | None] | None = None,
) -> str | None:
    """The description list of the same framework version first, else any, else the stored one
    (``stored``: already read with the capability)."""
    key = {"fw": framework, "cid": capability_id}
    rows = _q(session, _DESCRIPTIONS, key)
    if rows:
        rows = sorted(rows, key=lambda r: (r[0] != framework_version, [-n for n in version_key(r[0] or "")]))
        return str(rows[0][1]).strip() or None
    if stored is None:
        stored = _scalars(session, _STORED_DESCRIPTION, key)
    return stored[0].strip() if stored and stored[0] else None


def capability_view(
    session: Source, framework: str, capability_id: str, *, filters: Filters = NO_FILTERS
) -> CapabilityView:
    """A control's techniques in its framework's newest (or the filtered) release, by tactic."""
    session = reader(session)
    releases = list(static(session).releases)
    ref, stored = _capability(session, framework, capability_id, described=True)
    key = {"fw": framework, "cid": ref.id}
    # Per release: rows at all (mapped or marked non-mappable) and mappings, in one select.
    presence = _q(session, _CAPABILITY_PRESENCE, key)
    counts = {pk: int(live) for pk, _, live in presence if live}
    candidates = [
        i for i in releases if i.ref.framework == framework and _matches(i, filters, filters.domain)
    ]
    # Newest release that has the capability at all.
    present = {pk for pk, _, _ in presence}
    info = next((i for i in candidates if i.pk in present), candidates[0] if candidates else None)
    rows = _q(session, _CAPABILITY_ROWS, {**key, "pk": info.pk}) if info else []
    rows.sort(key=attrgetter("position"))
    mapped = [r for r in rows if not _is_non_mappable(r) and r.attack_id]
    shown, skipped = filter_mapped(mapped, filters)
    lines = _lines(shown, info) if info else []
    techs = _techniques(session, [ln.attack_id for ln in lines])
    tactic_lookup = tactic_names(session)
    by_tactic: dict[str, list[MappingLine]] = defaultdict(list)
    order: dict[str, int] = {}
    for line in lines:
        tech = techs.get(line.attack_id)
        names = (
            [tactic_lookup.get((tech.domain, s), (99, s.title())) for s in (tech.tactics or [])]
            if tech
            else []
        )
        if not names:
            names = [(999, "")]  # outside the loaded ATT&CK: last, unnamed
        for pos, name in names:
            by_tactic[name].append(line)
            order[name] = pos
    tactics = tuple(
        TacticGroup(name, group_lines(members), len(members))
        for name, members in sorted(by_tactic.items(), key=lambda kv: (order[kv[0]], kv[0]))
    )
    tallies: dict[Tally, int] = {}
    for g in group_lines(lines, sort=False):  # per group, strongest score first
        per_value: dict[str | None, int] = {}
        for line in g.lines:
            per_value[line.score_value] = per_value.get(line.score_value, 0) + 1
        type_label = "" if g.score_category else g.lines[0].mapping_type_label
        for value in sorted(per_value, key=lambda v: -score_rank(v)):
            tally = Tally(g.score_category, value, type_label)
            tallies[tally] = tallies.get(tally, 0) + per_value[value]
    notes = [unfiltered_note(framework, len(shown), skipped)] if skipped else []
    if len(mapped) != len(shown):
        notes.append(Note("capability_hidden", count=len(mapped) - len(shown)))
    if info is None:
        notes.append(Note("no_release", frameworks=(framework,)))
    elif info.pk not in present:
        notes.append(Note("not_in_release", subject=ref.id, release=info.ref))
    return CapabilityView(
        capability=ref,
        description=_capability_description(
            session, framework, ref.id, info.ref.framework_version if info else None, stored
        ),
        release=info.ref if info else None,
        tactics=tactics,
        total=len(lines),
        counts=tuple(tallies.items()),
        filters=filters,
        non_mappable=any(_is_non_mappable(r) for r in rows),
        other_releases=_other_releases(releases, counts, framework, info),
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------- pair view
