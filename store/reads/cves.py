"""Which controls cover a CVE's techniques (the CVE answer)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import select

from store.models import (
    Mapping,
)
from store.reads.capabilities import _capability_description, _capability_ref
from store.reads.catalogue import _techniques
from store.reads.compare import top_controls
from store.reads.fast import Source, _q, _scalars, reader
from store.reads.lines import _CAPABILITY_RELEASES, _CAPABILITY_WHERE, _ids, _is_non_mappable
from store.reads.ranking import _control_rank
from store.reads.releases import NO_FILTERS, _matches, pick_releases
from store.reads.static import static
from store.views import ControlLine, CveTechnique, CveView, Filters, TechniqueRef

_CVE_ROWS = (
    select(
        Mapping.release_id,
        Mapping.attack_id,
        Mapping.attack_name,
        Mapping.mapping_type,
        Mapping.status,
        Mapping.comments,
    )
    .where(_CAPABILITY_WHERE, Mapping.release_id.in_(_ids("pks")))
    .order_by(Mapping.position)
)


EXPLOITATION = "exploitation_technique"  # KEV: how the vulnerability itself is exploited
# Controls named for fixing or finding the flaw itself: patching, flaw remediation, vulnerability
# management (NIST SI-02 Flaw Remediation, RA-05 Vulnerability Monitoring and Scanning, Azure
# Update Manager, CRI "Patch identification and application").  For a known exploited CVE they
# are what an analyst reaches for first, however few of its later techniques they cover.
_REMEDIATES = re.compile(r"\b(?:flaws?|vulnerabilit(?:y|ies)|patch(?:es|ing)?|updates?|remediation)\b", re.I)


def remediates(control_name: str) -> bool:
    return bool(_REMEDIATES.search(control_name))


def cve_view(
    session: Source, cve_id: str, *, frameworks: Sequence[str], filters: Filters = NO_FILTERS
) -> CveView:
    """A KEV CVE's techniques and impact types, then the best controls for those techniques."""
    session = reader(session)
    releases = list(static(session).releases)
    ref = _capability_ref(session, "kev", cve_id)
    kev_filters = Filters(domain=filters.domain)
    kev = [i for i in releases if i.ref.framework == "kev" and _matches(i, kev_filters, filters.domain)]
    present = set(_scalars(session, _CAPABILITY_RELEASES, {"fw": "kev", "cid": ref.id}))
    in_kev = [i for i in kev if i.pk in present]
    # Enterprise and mobile files of the newest KEV release that has the CVE.
    newest = in_kev[0].ref if in_kev else None
    infos = [
        i
        for i in in_kev
        if newest
        and i.ref.framework_version == newest.framework_version
        and i.ref.attack_version == newest.attack_version
    ]
    by_pk = {i.pk: i for i in infos}
    rows = _q(session, _CVE_ROWS, {"fw": "kev", "cid": ref.id, "pks": list(by_pk)}) if by_pk else []
    impacts: dict[str, list[str]] = {}
    exploited: dict[str, None] = {}  # the techniques that exploit the flaw itself
    names: dict[str, str] = {}
    comments: dict[str, str] = {}
    domains: dict[str, str] = {}
    for r in rows:
        if _is_non_mappable(r) or not r.attack_id:
            continue
        label = by_pk[r.release_id].type_label(r.mapping_type or "")
        if r.mapping_type == EXPLOITATION:
            exploited.setdefault(r.attack_id, None)
        impacts.setdefault(r.attack_id, [])
        if label not in impacts[r.attack_id]:
            impacts[r.attack_id].append(label)
        names.setdefault(r.attack_id, (r.attack_name or r.attack_id).strip())
        domains.setdefault(r.attack_id, by_pk[r.release_id].ref.domain)
        if r.comments:
            comments.setdefault(r.attack_id, r.comments.strip())
    techs = _techniques(session, list(impacts))
    techniques = tuple(
        CveTechnique(
            TechniqueRef(tid, techs[tid].name if tid in techs else names[tid], domains[tid]),
            tuple(labels),
            comments.get(tid),
        )
        for tid, labels in impacts.items()
    )
    control_filters = Filters(
        framework_version=filters.framework_version,
        attack_version=filters.attack_version,
        categories=filters.categories,
        min_score=filters.min_score,
    )
    # Every control of every technique (no per-technique cut), ranked as ``CveView.exploited``
    # says: those that fix the flaw and stop its exploitation, then the others that stop the
    # exploitation, then by how many of the CVE's techniques they cover (``count``), then the
    # strongest.  Sub-technique breadth plays no part.
    every = top_controls(
        session,
        list(impacts),
        frameworks,
        limit=100_000,
        per_framework=True,
        filters=control_filters,
        releases=releases,
        subtechniques=False,
    )
    per_fw: dict[str, dict[str, ControlLine]] = {fw: {} for fw in frameworks}
    stops: set[tuple[str, str]] = set()  # controls that map an exploitation technique
    covers: dict[tuple[str, str], set[str]] = defaultdict(set)
    for tid, lines in every.items():
        for c in lines:
            covers[(c.framework, c.capability_id)].add(tid)
            if tid in exploited:
                stops.add((c.framework, c.capability_id))
            slot = per_fw[c.framework]
            old = slot.get(c.capability_id)
            if old is None or _control_rank(c) < _control_rank(old):
                slot[c.capability_id] = c
    controls = tuple(
        (
            fw,
            tuple(
                replace(c, count=len(covers[(fw, c.capability_id)]))
                for c in sorted(
                    slot.values(),
                    key=lambda c: (
                        not (remediates(c.name) and (c.framework, c.capability_id) in stops),
                        (c.framework, c.capability_id) not in stops,
                        -len(covers[(c.framework, c.capability_id)]),
                        *_control_rank(c),
                        c.capability_id,
                    ),
                )[:8]
            ),
        )
        for fw, slot in per_fw.items()
    )
    used_domains = sorted(set(domains.values())) or ["enterprise"]
    control_releases = tuple(
        info.ref
        for dom in used_domains
        for info in pick_releases(releases, frameworks, control_filters, dom).values()
    )
    return CveView(
        cve=ref,
        description=_capability_description(
            session, "kev", ref.id, newest.framework_version if newest else None
        ),
        release=newest,
        techniques=techniques,
        controls=controls,
        frameworks=tuple(frameworks),
        filters=filters,
        control_releases=control_releases,
        exploited=tuple(exploited),
    )
