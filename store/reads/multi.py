"""A question that names several techniques, controls or CVEs: one compact line per entity.

Each line is read from the entity's own answer (technique, capability, CVE or pair view), so a
line never says something its full answer would not; the request to open that answer rides
along for the line's button.
"""

from __future__ import annotations

from collections.abc import Sequence

from store.ids import nearest_technique_ids
from store.reads.capabilities import capability_view
from store.reads.compare import top_controls
from store.reads.cves import cve_view
from store.reads.fast import Source, reader
from store.reads.pairs import pair_view
from store.reads.releases import ReleaseInfo
from store.reads.static import static
from store.reads.techniques import technique_view
from store.views import (
    ControlLine,
    MultiEntry,
    MultiView,
    TechniqueRef,
    ViewRequest,
)

LINE_CONTROLS = 3  # best controls named on a technique's or a CVE's line
LINE_TECHNIQUES = 3  # techniques named on a control's line


def multi_view(session: Source, request: ViewRequest) -> MultiView:
    """The lines for ``request.techniques`` then ``request.capabilities``.  With one technique
    and several controls, each control's line says whether it maps that technique."""
    session = reader(session)
    f = request.filters
    fws = request.frameworks
    facts = static(session)
    catalogue = facts.catalogue
    releases = facts.releases
    entries: list[MultiEntry] = []
    pair_with = request.techniques[0] if len(request.techniques) == 1 and request.capabilities else None
    if pair_with is not None and not any(fw == "kev" for fw, _ in request.capabilities):
        tv = technique_view(session, pair_with, frameworks=fws, filters=f, domain=request.domain)
        technique = TechniqueRef(tv.header.id, tv.header.name, tv.header.domain)
        for fw, cid in request.capabilities:
            pv = pair_view(session, pair_with, fw, cid, filters=f, domain=request.domain)
            newest = pv.releases[0] if pv.releases else None
            how = tuple(dict.fromkeys(ln.mapping_type_label for ln in newest.lines)) if newest else ()
            entries.append(
                MultiEntry(
                    "pair",
                    pv.capability.id,
                    pv.capability.name,
                    framework=fw,
                    mapped=bool(newest and newest.lines),
                    how=how,
                    release=newest.release if newest else None,
                    request=ViewRequest("pair", (pair_with,), ((fw, cid),), filters=f, domain=request.domain),
                )
            )
        return MultiView(tuple(entries), fws, f, technique=technique)
    for tid in request.techniques:
        entries.append(_technique_entry(session, tid, request, set(catalogue.techniques), releases))
    for fw, cid in request.capabilities:
        if fw == "kev":
            cve_fws = tuple(x for x in fws if x != "kev")
            cv = cve_view(session, cid, frameworks=cve_fws, filters=f)
            entries.append(
                MultiEntry(
                    "cve",
                    cv.cve.id,
                    cv.cve.name,
                    framework="kev",
                    total=len(cv.techniques),
                    controls=_in_turn([list(lines) for _, lines in cv.controls], LINE_CONTROLS),
                    # the techniques the question also named first: "T1190 CVE-..." asks about both
                    techniques=tuple(
                        t.technique
                        for t in sorted(cv.techniques, key=lambda t: t.technique.id not in request.techniques)
                    )[:LINE_TECHNIQUES],
                    release=cv.release,
                    request=ViewRequest("cve", capabilities=((fw, cid),), frameworks=cve_fws, filters=f),
                )
            )
            continue
        capv = capability_view(session, fw, cid, filters=f)
        lines = [ln for t in capv.tactics for g in t.groups for ln in g.lines]
        seen = dict.fromkeys(TechniqueRef(ln.attack_id, ln.attack_name) for ln in lines)
        entries.append(
            MultiEntry(
                "capability",
                capv.capability.id,
                capv.capability.name,
                framework=fw,
                total=len({ln.attack_id for ln in lines}),
                techniques=tuple(seen)[:LINE_TECHNIQUES],
                release=capv.release,
                request=ViewRequest("capability", capabilities=((fw, cid),), filters=f),
            )
        )
    return MultiView(tuple(entries), fws, f)


def _technique_entry(
    session: Source, tid: str, request: ViewRequest, known: set[str], releases: Sequence[ReleaseInfo]
) -> MultiEntry:
    f = request.filters
    tv = technique_view(session, tid, frameworks=request.frameworks, filters=f, domain=request.domain)
    total = sum(s.total for s in tv.sections)
    if not tv.header.known and not total and not tv.also_mapped_in and tid not in known:
        names = static(session).catalogue.techniques
        nearest = tuple(
            TechniqueRef(n, names[n].name, names[n].domain) for n in nearest_technique_ids(known, tid)
        )
        return MultiEntry("technique", tid, "", known=False, nearest=nearest)
    fws = [fw for fw in request.frameworks if fw != "kev"]
    ranked = top_controls(session, [tid], fws, LINE_CONTROLS, filters=f, releases=releases).get(tid, [])
    return MultiEntry(
        "technique",
        tid,
        tv.header.name,
        total=total,
        controls=tuple(ranked),
        request=ViewRequest(
            "technique", (tid,), frameworks=request.frameworks, filters=f, domain=request.domain
        ),
    )


def _in_turn(queues: list[list[ControlLine]], limit: int) -> tuple[ControlLine, ...]:
    """Up to ``limit`` controls, taken in turn from each framework's ranked list."""
    out: list[ControlLine] = []
    while len(out) < limit and any(queues):
        for q in queues:
            if q and len(out) < limit:
                out.append(q.pop(0))
    return tuple(out)
