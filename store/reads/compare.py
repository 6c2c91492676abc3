"""How each framework covers a technique (compare), and the batch form digests use for many
techniques in two or three queries (``technique_coverage``, ``top_controls``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from store.models import (
    Mapping,
)
from store.reads.catalogue import _domain_of, _subtechniques, _techniques, technique_header
from store.reads.fast import Source, _q, reader
from store.reads.lines import _CONTROL_COLS, _ids, _is_non_mappable, _passes
from store.reads.ranking import _control_lines
from store.reads.releases import NO_FILTERS, ReleaseInfo, pick_releases
from store.reads.static import static
from store.views import (
    CategoryCoverage,
    CompareView,
    ControlLine,
    Coverage,
    Filters,
    category_rank,
    score_rank,
)

COMPARE_CONTROLS = 3  # best controls named per framework (KEV's entries are CVEs, not controls)


def compare_view(
    session: Source,
    technique_id: str,
    *,
    frameworks: Sequence[str],
    filters: Filters = NO_FILTERS,
    domain: str | None = None,
) -> CompareView:
    session = reader(session)
    domain = filters.domain or _domain_of(session, technique_id, domain)
    coverage = technique_coverage(session, [technique_id], frameworks, filters=filters, domain=domain)
    rows = coverage.get(technique_id, {})
    header = technique_header(session, technique_id, domain=domain)
    shown = tuple(fw for fw in frameworks if fw in rows)
    best = top_controls(
        session,
        [technique_id],
        [fw for fw in shown if fw != "kev"],
        COMPARE_CONTROLS,
        per_framework=True,
        filters=filters,
    ).get(technique_id, [])
    return CompareView(
        technique=header,
        rows=tuple(rows[fw] for fw in shown),
        missing=tuple(fw for fw in frameworks if fw not in rows),
        filters=filters,
        best=tuple((fw, picked) for fw in shown if (picked := tuple(c for c in best if c.framework == fw))),
    )


# --------------------------------------------------------------------------- batch (digests)


def _newest_by_domain(
    releases: Sequence[ReleaseInfo], frameworks: Sequence[str], filters: Filters
) -> dict[tuple[str, str], ReleaseInfo]:
    out: dict[tuple[str, str], ReleaseInfo] = {}
    for dom in dict.fromkeys(i.ref.domain for i in releases):
        for fw, info in pick_releases(releases, frameworks, filters, dom).items():
            out[(fw, dom)] = info
    return out


def _technique_domains(session: Source, ids: Sequence[str]) -> dict[str, str]:
    return {tid: t.domain for tid, t in _techniques(session, ids).items()}


_COVERAGE_ROWS = select(
    Mapping.attack_id,
    Mapping.release_id,
    Mapping.mapping_type,
    Mapping.score_category,
    Mapping.score_value,
    Mapping.status,
).where(Mapping.attack_id.in_(_ids("tids")), Mapping.release_id.in_(_ids("pks")))


def technique_coverage(
    session: Source,
    technique_ids: Sequence[str],
    frameworks: Sequence[str],
    *,
    filters: Filters = NO_FILTERS,
    domain: str | None = None,
) -> dict[str, dict[str, Coverage]]:
    """Per technique, per framework: the newest release's mapping count and, per score category
    (or mapping type when unscored), count and best score.  Frameworks without a release in the
    technique's domain are absent; techniques are always present.  Three queries in all
    (releases, technique domains, mapping rows), whatever the number of techniques."""
    session = reader(session)
    ids = list(dict.fromkeys(technique_ids))
    releases = list(static(session).releases)
    newest = _newest_by_domain(releases, frameworks, filters)
    domains = _technique_domains(session, ids)
    pks = {i.pk: i for i in newest.values()}
    rows = _q(session, _COVERAGE_ROWS, {"tids": ids, "pks": list(pks)}) if ids and pks else []
    acc: dict[tuple[str, int], dict[str, list[Any]]] = defaultdict(dict)
    for r in rows:
        if _is_non_mappable(r) or not _passes(r, filters):
            continue
        key = r.score_category or r.mapping_type or ""
        slot = acc[(r.attack_id, r.release_id)].setdefault(key, [0, None])
        slot[0] += 1
        if r.score_value and score_rank(r.score_value) > score_rank(slot[1]):
            slot[1] = r.score_value
    out: dict[str, dict[str, Coverage]] = {}
    for tid in ids:
        dom = domain or domains.get(tid, "enterprise")
        per: dict[str, Coverage] = {}
        for fw in frameworks:
            info = newest.get((fw, dom))
            if info is None:
                continue
            cats = acc.get((tid, info.pk), {})
            ordered = sorted(cats.items(), key=lambda kv: (category_rank(kv[0]), kv[0]))
            per[fw] = Coverage(
                framework=fw,
                release=info.ref,
                total=sum(v[0] for _, v in ordered),
                categories={k: CategoryCoverage(v[0], v[1]) for k, v in ordered},
            )
        out[tid] = per
    return out


_CONTROL_ROWS = select(*_CONTROL_COLS).where(
    Mapping.attack_id.in_(_ids("tids")), Mapping.release_id.in_(_ids("pks"))
)


def top_controls(
    session: Source,
    technique_ids: Sequence[str],
    frameworks: Sequence[str],
    limit: int = 3,
    *,
    per_framework: bool = False,
    filters: Filters = NO_FILTERS,
    releases: Sequence[ReleaseInfo] | None = None,
    subtechniques: bool = True,
) -> dict[str, list[ControlLine]]:
    """Per technique, its best controls in the newest release of each framework.

    Ranked by score value, then by how many of the technique's sub-techniques the control also
    maps (``count`` counts the technique and those), then category and ID.  With
    ``per_framework`` up to ``limit`` per framework; otherwise ``limit`` in all, taken in turn
    from each framework in the order given so that one framework cannot crowd out the rest.
    Every technique asked about is a key.  Three queries in all.  Without ``subtechniques``
    they are not read (``count`` is 1, and ranking skips that step).
    """
    session = reader(session)
    ids = list(dict.fromkeys(technique_ids))
    releases = releases if releases is not None else list(static(session).releases)
    newest = _newest_by_domain(releases, frameworks, filters)
    pks = {i.pk for i in newest.values()}
    subs = _subtechniques(session, ids) if subtechniques else {}
    parent_of = {sid: pid for pid, members in subs.items() for sid, _ in members}
    wanted = ids + [s for s in parent_of if s not in ids]
    rows = _q(session, _CONTROL_ROWS, {"tids": wanted, "pks": list(pks)}) if ids and pks else []
    direct: dict[str, list[Any]] = defaultdict(list)
    breadth: dict[tuple[str, str, str], int] = defaultdict(int)  # (technique, framework, capability)
    for r in rows:
        if _is_non_mappable(r) or not r.capability_id or not _passes(r, filters):
            continue
        if r.attack_id in ids:
            direct[r.attack_id].append(r)
        parent = parent_of.get(r.attack_id)
        if parent:
            breadth[(parent, r.framework, r.capability_id)] += 1
    out: dict[str, list[ControlLine]] = {}
    for tid in ids:
        by_fw: dict[str, list[ControlLine]] = defaultdict(list)
        for c in _control_lines(direct.get(tid, [])):
            wide = breadth.get((tid, c.framework, c.capability_id), 0)
            by_fw[c.framework].append(
                ControlLine(
                    c.framework,
                    c.capability_id,
                    c.name,
                    c.mapping_type,
                    c.score_category,
                    c.score_value,
                    1 + wide,
                )
            )
        for lines in by_fw.values():
            lines.sort(
                key=lambda c: (
                    -score_rank(c.score_value),
                    -c.count,
                    category_rank(c.score_category),
                    c.capability_id,
                )
            )
        if per_framework:
            out[tid] = [c for fw in frameworks for c in by_fw.get(fw, [])[:limit]]
            continue
        picked: list[ControlLine] = []
        queues = [list(by_fw.get(fw, [])) for fw in frameworks]
        while len(picked) < limit and any(queues):
            for q in queues:
                if q and len(picked) < limit:
                    picked.append(q.pop(0))
        out[tid] = picked
    return out


# --------------------------------------------------------------------------- dispatch
