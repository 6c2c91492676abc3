"""Controls ranked by their best mapping: one line per capability."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from sqlalchemy import bindparam, distinct, func, select

from store.models import (
    Mapping,
)
from store.reads.fast import Source, _q
from store.reads.lines import _CONTROL_COLS, _is_non_mappable
from store.reads.releases import MAX_CLOSEST, ReleaseInfo
from store.reads.static import static
from store.views import CapabilityRef, ControlLine, MappingLine, TechniqueView, category_rank, score_rank

_RELEASE_TECHNIQUE_ROWS = select(*_CONTROL_COLS).where(
    Mapping.attack_id == bindparam("tid"), Mapping.release_id == bindparam("pk")
)


def _closest(
    session: Source, technique_id: str, ref: CapabilityRef, info: ReleaseInfo
) -> tuple[ControlLine, ...]:
    """Capabilities of the same release that do map the technique: same group first, then
    strongest score, then ID."""
    rows = _q(session, _RELEASE_TECHNIQUE_ROWS, {"tid": technique_id, "pk": info.pk})
    lines = _control_lines(r for r in rows if not _is_non_mappable(r) and r.capability_id)
    group = ref.group or ref.id.split("-")[0]
    lines.sort(
        key=lambda c: (
            c.capability_id.split("-")[0] != group,
            -score_rank(c.score_value),
            category_rank(c.score_category),
            c.capability_id,
        )
    )
    return tuple(lines[:MAX_CLOSEST])


def _control_lines(rows: Iterable[Any]) -> list[ControlLine]:
    """One line per capability: its best mapping, with how many rows it had."""
    best: dict[tuple[str, str], ControlLine] = {}
    for r in rows:
        key = (r.framework, r.capability_id)
        line = ControlLine(
            r.framework,
            r.capability_id,
            (r.capability_name or r.capability_id).strip(),
            r.mapping_type or "",
            r.score_category,
            r.score_value,
        )
        old = best.get(key)
        if old is None:
            best[key] = line
            continue
        keep = old if _control_rank(old) <= _control_rank(line) else line
        best[key] = ControlLine(
            keep.framework,
            keep.capability_id,
            keep.name,
            keep.mapping_type,
            keep.score_category,
            keep.score_value,
            old.count + 1,
        )
    return list(best.values())


def _control_rank(c: ControlLine) -> tuple[Any, ...]:
    return (-score_rank(c.score_value), category_rank(c.score_category))


# --------------------------------------------------------------------------- group / framework


# --------------------------------------------------------------------------- card top controls

# How many techniques each control of a release maps: fixed for a data version (the caller
# keeps it), one grouped select per release.
_RELEASE_BREADTH = (
    select(Mapping.capability_id, func.count(distinct(Mapping.attack_id)))
    .where(Mapping.release_id == bindparam("pk"), Mapping.capability_id.is_not(None))
    .group_by(Mapping.capability_id)
)
# How many of a technique family's IDs (the technique and its sub-techniques: "T1566" up to
# "T1566.999") each control maps, per release: the (attack_id, release_id) index, a few rows.
_FAMILY_BREADTH = (
    select(Mapping.release_id, Mapping.capability_id, func.count(distinct(Mapping.attack_id)))
    .where(
        Mapping.attack_id.between(bindparam("root"), bindparam("last")),
        Mapping.release_id.in_(bindparam("pks", expanding=True)),
        Mapping.capability_id.is_not(None),
    )
    .group_by(Mapping.release_id, Mapping.capability_id)
)


def release_breadth(session: Source, release_pk: int) -> dict[str, int]:
    """Techniques each control of the release maps (for ``ranked_for_card``; cache it per data
    version: it changes only when data is loaded)."""
    return {cid: int(n) for cid, n in _q(session, _RELEASE_BREADTH, {"pk": release_pk})}


def ranked_for_card(
    session: Source, view: TechniqueView, breadth_of: Callable[[int], dict[str, int]]
) -> TechniqueView:
    """``view`` with each group's lines best first, for a card's "Top controls": strongest
    score, then the control covering most of the technique's family (as a CVE's controls are
    ranked by how many of its techniques they cover), then the most specific (fewest techniques
    mapped in all: NIST SI-08 Spam Protection before SI-04 System Monitoring for spearphishing),
    then ID.  ``breadth_of(release_pk)``: ``release_breadth``, as the caller keeps it."""
    pk_of = {info.ref: info.pk for info in static(session).releases}
    pks = [pk_of[sec.release] for sec in view.sections if sec.release in pk_of]
    if not pks:
        return view
    root = view.header.id.split(".")[0]
    params = {"pks": pks, "root": root, "last": f"{root}.999"}
    family = {(pk, cid): int(n) for pk, cid, n in _q(session, _FAMILY_BREADTH, params)}

    def best_first(lines: tuple[MappingLine, ...], pk: int | None) -> tuple[MappingLine, ...]:
        if pk is None:
            return lines
        overall = breadth_of(pk)
        return tuple(
            sorted(
                lines,
                key=lambda ln: (
                    -score_rank(ln.score_value),
                    -family.get((pk, ln.capability_id), 0),
                    overall.get(ln.capability_id, 0),
                    ln.capability_id,
                ),
            )
        )

    sections = []
    for sec in view.sections:
        pk = pk_of.get(sec.release)
        groups = tuple(replace(g, lines=best_first(g.lines, pk)) for g in sec.groups)
        sections.append(replace(sec, groups=groups))
    return replace(view, sections=tuple(sections))
