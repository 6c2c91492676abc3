"""Groups, software and campaigns: what they are, the techniques they use, and which controls
of each framework cover those techniques.

Names say the question, as in mitreattack-python's MitreAttackData.  A threat is looked up by
ATT&CK ID (G/S/C); the enterprise object wins when a threat sits in several domains.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import Session

from store.models import Analytic, DetectionLink, DetectionStrategy, Threat, ThreatLink
from store.reads.catalogue import _ordered_tactics
from store.reads.fast import Source, _json, _q, reader
from store.reads.lines import _CITATION, _MD_LINK, _PARAGRAPH, summarise_description
from store.reads.releases import NO_FILTERS
from store.reads.static import StaticInfo, static
from store.reads.threat_catalogue import threat_row
from store.reads.threat_coverage import coverage_by_framework
from store.reads.threat_detection import data_to_collect
from store.text import html_to_text
from store.threat_views import (
    Citation,
    FrameworkCoverage,
    Procedure,
    SubTechniqueName,
    TechniqueTexts,
    ThreatRef,
    ThreatView,
)
from store.views import Filters, TechniqueRef

__all__ = [
    "coverage_of_techniques",
    "technique_texts",
    "threat_by_id",
    "threat_names",
    "threats_using_technique",
]

_DOMAIN_ORDER = {"enterprise": 0, "mobile": 1, "ics": 2}


def _ref(row: Any) -> ThreatRef:
    return ThreatRef(row.attack_id, row.name, row.kind, row.stix_type, tuple(row.aliases or ()), row.url)


def threat_names(session: Session) -> list[ThreatRef]:
    """Every group, software and campaign once (the resolver's names and aliases)."""
    rows = session.execute(
        select(
            Threat.attack_id,
            Threat.name,
            Threat.kind,
            Threat.stix_type,
            Threat.aliases,
            Threat.url,
            Threat.domain,
        )
    ).all()
    best: dict[str, Any] = {}
    for r in sorted(rows, key=lambda r: _DOMAIN_ORDER.get(r.domain, 9)):
        best.setdefault(r.attack_id, r)
    return [_ref(r) for _, r in sorted(best.items())]


# A threat's links both ways in one select (each side by its index): its own uses and
# attributed-to links, and the groups, campaigns and software linking to it.
_LINKS = select(
    ThreatLink.domain,
    ThreatLink.source_attack_id,
    ThreatLink.relationship,
    ThreatLink.target_kind,
    ThreatLink.target_attack_id,
    ThreatLink.description,
    _json(ThreatLink.citations),
).where(
    or_(
        ThreatLink.source_attack_id == bindparam("aid"),
        and_(ThreatLink.target_attack_id == bindparam("target"), ThreatLink.target_kind != "technique"),
    )
)


def clean_text(text: str | None) -> str | None:
    """ATT&CK prose as plain text: citations, HTML and link markup out, paragraphs kept."""
    return _clean(text) if text else None


@lru_cache(maxsize=32_768)  # a pure function of the stored text: every procedure fits
def _clean(text: str) -> str | None:
    out = _CITATION.sub("", text) if "(Citation:" in text else text
    out = html_to_text(out) if "<" in out or "&" in out else out
    out = _MD_LINK.sub(r"\1", out) if "](" in out else out
    paragraphs = (" ".join(p.split()) for p in _PARAGRAPH.split(out))
    return "\n\n".join(p for p in paragraphs if p) or None


def threat_by_id(
    session: Source,
    attack_id: str,
    *,
    coverage: bool = True,
    frameworks: Sequence[str] | None = None,
    filters: Filters = NO_FILTERS,
    also: Sequence[str] = (),
) -> ThreatView | None:
    """A threat with its techniques (procedure text, citations), related threats and, unless
    ``coverage`` is false, per framework (``frameworks``; every loaded one when None) the
    controls covering the most of its techniques.  When none of ``frameworks`` has a release in
    the threat's domain (a mobile or ICS threat asked with NIST), the frameworks that have one
    are shown, ``missing_frameworks`` saying which were asked.  ``also``: techniques the asked
    words also name, carried for the answer to offer."""
    src = reader(session)
    t = threat_row(src, attack_id.strip().upper())
    if t is None:
        return None
    domain = t.domain
    both = [r for r in _q(src, _LINKS, {"aid": t.attack_id, "target": t.attack_id}) if r.domain == domain]
    links = [r for r in both if r.source_attack_id == t.attack_id]
    incoming = [r for r in both if r.source_attack_id != t.attack_id]
    info = static(src)
    procedures = _procedures(info, [lnk for lnk in links if lnk.target_kind == "technique"])
    other_ids = {lnk.target_attack_id for lnk in links if lnk.target_kind != "technique"}
    other_ids |= {r.source_attack_id for r in incoming}
    others = {i: _ref(row) for i in other_ids if (row := threat_row(src, i, domain)) is not None}

    def refs(ids: Sequence[str]) -> tuple[ThreatRef, ...]:
        return tuple(sorted((others[i] for i in set(ids) if i in others), key=lambda r: r.name.lower()))

    catalogue = info.catalogue.techniques
    also_refs = tuple(
        TechniqueRef(tid, catalogue[tid].name, catalogue[tid].domain) for tid in also if tid in catalogue
    )
    technique_ids = tuple(dict.fromkeys(p.technique_id for p in procedures))
    covered: tuple[FrameworkCoverage, ...] = ()
    missing: tuple[str, ...] = ()
    if coverage:
        # KEV maps CVEs, not controls: never a coverage framework (as in the CVE answer).
        loaded = sorted({i.ref.framework for i in info.releases if i.ref.domain == domain} - {"kev"})
        asked = [fw for fw in frameworks if fw != "kev"] if frameworks is not None else loaded
        found = coverage_by_framework(src, technique_ids, domain, asked, filters)
        missing = tuple(fw for fw in asked if fw not in found)
        if asked and not found:  # none of those has a release in this domain: those that do
            found = coverage_by_framework(src, technique_ids, domain, loaded, filters)
        covered = tuple(found.values())
    return ThreatView(
        threat=_ref(t),
        domain=domain,
        description=t.description,
        platforms=tuple(t.platforms or ()),
        revoked=bool(t.revoked),
        deprecated=bool(t.deprecated),
        revoked_by=t.revoked_by,
        procedures=procedures,
        software=refs([lnk.target_attack_id for lnk in links if lnk.target_kind == "software"]),
        used_by=refs([r.source_attack_id for r in incoming if r.relationship == "uses"]),
        attributed_to=refs([lnk.target_attack_id for lnk in links if lnk.relationship == "attributed-to"]),
        campaigns=refs([r.source_attack_id for r in incoming if r.relationship == "attributed-to"]),
        coverage=covered,
        frameworks=tuple(frameworks or ()),
        filters=filters,
        also_techniques=also_refs,
        summary=summarise_description(t.description),
        missing_frameworks=missing,
        tactic_order=tuple(
            name
            for (dom, _), (_, name) in sorted(info.tactics.items(), key=lambda kv: kv[1][0])
            if dom == domain
        ),
        collect=data_to_collect(src, technique_ids, domain) if "detect" in filters.categories else (),
    )


def _procedures(info: StaticInfo, links: Sequence[Any]) -> tuple[Procedure, ...]:
    """One entry per technique; a revoked target is shown through its replacement."""
    techniques = info.catalogue.techniques
    tactics = dict(info.tactics)
    out: dict[str, Procedure] = {}
    for lnk in sorted(links, key=lambda lnk: lnk.target_attack_id):
        tid = lnk.target_attack_id
        tech = techniques.get(tid)
        revoked_id = None
        if tech is not None and tech.revoked_by and tech.revoked_by in techniques:
            revoked_id, tid, tech = tid, tech.revoked_by, techniques[tech.revoked_by]
        if tid in out:
            continue
        out[tid] = Procedure(
            technique_id=tid,
            technique_name=_name(tech, techniques) if tech is not None else tid,
            tactics=_ordered_tactics(tech, tactics) if tech is not None else (),
            text=clean_text(lnk.description),
            citations=tuple(Citation(c.get("name") or "", c.get("url")) for c in lnk.citations or ()),
            revoked_id=revoked_id,
        )
    return tuple(sorted(out.values(), key=lambda p: p.technique_id))


def _name(tech: Any, techniques: dict[str, Any]) -> str | SubTechniqueName:
    """A technique's name; a sub-technique's with its parent's (alone, "Email Accounts" says
    little in a list of sixty)."""
    parent = techniques.get(tech.parent_attack_id) if tech.parent_attack_id else None
    return SubTechniqueName(str(parent.name), str(tech.name)) if parent is not None else str(tech.name)


def coverage_of_techniques(
    session: Source, technique_ids: Sequence[str], domain: str, frameworks: Sequence[str] | None = None
) -> dict[str, FrameworkCoverage]:
    """Per framework (newest release in ``domain``): each control with how many of the
    techniques it maps, ranked as the CVE answer ranks; and the techniques no control of that
    release maps (see ``store.reads.threat_coverage``)."""
    return coverage_by_framework(session, technique_ids, domain, frameworks)


def threats_using_technique(session: Session, technique_id: str) -> list[ThreatRef]:
    """Groups, software and campaigns with a ``uses`` link to the technique, by kind and name."""
    rows = session.execute(
        select(Threat.attack_id, Threat.name, Threat.kind, Threat.stix_type, Threat.aliases, Threat.url)
        .join(ThreatLink, ThreatLink.source_pk == Threat.id)
        .where(ThreatLink.target_attack_id == technique_id.upper(), ThreatLink.relationship == "uses")
    ).all()
    seen = {r.attack_id: _ref(r) for r in rows}
    order = {"group": 0, "software": 1, "campaign": 2}
    return sorted(seen.values(), key=lambda r: (order.get(r.kind, 9), r.name.lower()))


def technique_texts(session: Session) -> dict[str, TechniqueTexts]:
    """Per technique ID: the procedure texts of every ``uses`` link to it and the text of its
    detection strategies and their analytics, for building a text index."""
    procedures: dict[str, list[str]] = defaultdict(list)
    for tid, text in session.execute(
        select(ThreatLink.target_attack_id, ThreatLink.description).where(
            ThreatLink.target_kind == "technique", ThreatLink.description.is_not(None)
        )
    ):
        if text:
            procedures[tid].append(text)
    analytics = {
        (d, a): text
        for d, a, text in session.execute(select(Analytic.domain, Analytic.attack_id, Analytic.description))
    }
    detections: dict[str, list[str]] = defaultdict(list)
    for tid, domain, name, analytic_ids in session.execute(
        select(
            DetectionLink.technique_attack_id,
            DetectionStrategy.domain,
            DetectionStrategy.name,
            DetectionStrategy.analytic_ids,
        ).join(DetectionStrategy, DetectionStrategy.id == DetectionLink.strategy_pk)
    ):
        detections[tid].append(name)
        detections[tid].extend(t for a in analytic_ids or () if (t := analytics.get((domain, a))))
    return {
        tid: TechniqueTexts(tid, tuple(procedures.get(tid, ())), tuple(detections.get(tid, ())))
        for tid in sorted(procedures.keys() | detections.keys())
    }
