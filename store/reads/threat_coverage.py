"""Which controls of a framework cover the most of a threat's techniques, from memory.

An actor answer ranks every control of each framework's newest release by how many of the
actor's tens of techniques it maps: read from the database, that is thousands of mapping rows
per answer (APT29: ~30 ms on SQLite).  A release's rows change only when it is loaded, so each
release is read once per data version (keyed, like ``store.reads.coverage_index``, on what
only a new data version replaces: here the ``StaticInfo`` the reader holds) as technique →
its mappings, and an answer only walks its own techniques' rows.  Counted as
``store.reads.coverage`` counts (complete rows for the exact ID), ranked as the CVE answer
ranks its controls (most techniques, then best score, then category, then ID).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, or_, select

from store.models import Mapping
from store.reads.fast import Source, _q, reader
from store.reads.lines import _passes
from store.reads.releases import NO_FILTERS, pick_releases
from store.reads.static import StaticInfo, static
from store.threat_views import ControlCoverage, FrameworkCoverage
from store.views import Filters, category_rank, score_rank

_RELEASE_ROWS = select(
    Mapping.attack_id,
    Mapping.capability_id,
    Mapping.capability_name,
    Mapping.mapping_type,
    Mapping.score_category,
    Mapping.score_value,
).where(
    Mapping.release_id == bindparam("pk"),
    Mapping.attack_id.is_not(None),
    Mapping.capability_id.is_not(None),
    or_(Mapping.status.is_(None), Mapping.status != "non_mappable"),
)


@dataclass(frozen=True, slots=True)
class _Row:
    capability_id: str
    name: str
    mapping_type: str | None
    score_category: str | None
    score_value: str | None
    rank: tuple[int, int]  # (-score rank, category rank): smaller is better


@dataclass(frozen=True, slots=True)
class _ReleaseRows:
    by_technique: dict[str, tuple[_Row, ...]]  # technique ID -> its complete mapping rows
    # technique ID -> one (capability, best row) per control mapping it: unfiltered answers
    best_by_technique: dict[str, tuple[tuple[str, _Row], ...]]
    categories: bool  # some row has a score category
    scores: bool  # some row has a score value


# By ``id(StaticInfo)`` (a frozen dataclass of dicts: not hashable), with a weak reference
# telling a live entry from one whose data version has gone.
_BY_VERSION: dict[int, tuple[weakref.ref[StaticInfo], dict[int, _ReleaseRows]]] = {}
_LOCK = threading.Lock()


def _load(source: Source, pk: int) -> _ReleaseRows:
    grouped: dict[str, list[_Row]] = {}
    for r in _q(source, _RELEASE_ROWS, {"pk": pk}):
        cid = str(r.capability_id).strip()
        if not cid:
            continue
        grouped.setdefault(str(r.attack_id).upper(), []).append(
            _Row(
                cid,
                (r.capability_name or cid).strip(),
                r.mapping_type,
                r.score_category,
                r.score_value,
                (-score_rank(r.score_value), category_rank(r.score_category)),
            )
        )
    every = [r for rows in grouped.values() for r in rows]
    best: dict[str, tuple[tuple[str, _Row], ...]] = {}
    for tid, rows in grouped.items():
        per: dict[str, _Row] = {}
        for r in rows:
            if r.capability_id not in per or r.rank < per[r.capability_id].rank:
                per[r.capability_id] = r
        best[tid] = tuple(per.items())
    return _ReleaseRows(
        {tid: tuple(rows) for tid, rows in grouped.items()},
        best,
        any(r.score_category for r in every),
        any(r.score_value for r in every),
    )


def _release_rows(source: Source, info: StaticInfo, pk: int) -> _ReleaseRows:
    with _LOCK:
        entry = _BY_VERSION.get(id(info))
        if entry is None or entry[0]() is not info:
            for key in [k for k, (ref, _) in _BY_VERSION.items() if ref() is None]:
                del _BY_VERSION[key]
            entry = _BY_VERSION[id(info)] = (weakref.ref(info), {})
        held = entry[1]
        found = held.get(pk)
    if found is None:
        found = _load(source, pk)
        with _LOCK:
            held[pk] = found
    return found


def coverage_by_framework(
    source: Source,
    technique_ids: Sequence[str],
    domain: str,
    frameworks: Sequence[str] | None = None,
    filters: Filters = NO_FILTERS,
) -> dict[str, FrameworkCoverage]:
    """Per framework (its newest release in ``domain`` that ``filters`` allow; every loaded
    framework when ``frameworks`` is None), each control with how many of the techniques it
    maps, ranked; and the techniques no control of that release maps.  A category or score
    filter narrows the rows counted (a release whose rows carry no category is not emptied)."""
    src = reader(source)
    info = static(src)
    ids = list(dict.fromkeys(t.upper() for t in technique_ids))
    releases = list(info.releases)
    names = frameworks if frameworks is not None else sorted({i.ref.framework for i in releases})
    chosen = pick_releases(releases, names, filters, domain)
    out: dict[str, FrameworkCoverage] = {}
    for fw, rel in chosen.items():
        rows = _release_rows(src, info, rel.pk)
        out[fw] = _rank(fw, rel.ref, rows, ids, filters)
    return out


def _applicable(rows: _ReleaseRows, filters: Filters) -> Filters:
    """The filters as they can apply to this release (see ``store.reads.lines.filter_mapped``)."""
    if not (filters.categories or filters.min_score):
        return filters
    cats = bool(filters.categories) and rows.categories
    score = bool(filters.min_score) and rows.scores
    return Filters(
        categories=filters.categories if cats else (), min_score=filters.min_score if score else None
    )


def _rank(fw: str, release: Any, rows: _ReleaseRows, ids: list[str], filters: Filters) -> FrameworkCoverage:
    use = _applicable(rows, filters)
    pairs: Any
    if use.categories or use.min_score:
        pairs = {
            tid: tuple((r.capability_id, r) for r in rows.by_technique.get(tid, ()) if _passes(r, use))
            for tid in ids
        }
    else:
        pairs = rows.best_by_technique
    techniques: dict[str, list[str]] = {}  # capability -> the techniques it maps, in ``ids`` order
    best: dict[str, _Row] = {}
    for tid in ids:
        for cid, r in pairs.get(tid, ()):
            found = techniques.get(cid)
            if found is None:
                techniques[cid] = [tid]
                best[cid] = r
            else:
                if found[-1] != tid:
                    found.append(tid)
                if r.rank < best[cid].rank:
                    best[cid] = r
    order = sorted(techniques, key=lambda cid: (-len(techniques[cid]), best[cid].rank, cid))
    n = len(ids)
    in_order = ids == sorted(ids)
    controls = tuple(
        ControlCoverage(
            fw,
            cid,
            best[cid].name,
            len(techniques[cid]),
            n,
            best[cid].score_value,
            tuple(techniques[cid]) if in_order else tuple(sorted(techniques[cid])),
            best[cid].score_category,
        )
        for cid in order
    )
    mapped = {t for found in techniques.values() for t in found}
    applied = (*use.categories, *((use.min_score,) if use.min_score else ()))
    skipped = (("category",) if filters.categories and not use.categories else ()) + (
        ("score",) if filters.min_score and not use.min_score else ()
    )
    unmapped = tuple(t for t in ids if t not in mapped)
    return FrameworkCoverage(fw, release, controls, unmapped, applied, skipped)
