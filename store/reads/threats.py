"""Groups, software and campaigns: what they are, the techniques they use, and which controls
of each framework cover those techniques.

Names say the question, as in mitreattack-python's MitreAttackData.  A threat is looked up by
ATT&CK ID (G/S/C); the enterprise object wins when a threat sits in several domains.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import Mapping, Technique, Threat, ThreatLink
from store.reads.fast import _q
from store.reads.lines import _ids
from store.reads.releases import NO_FILTERS, pick_releases
from store.reads.static import static
from store.threat_views import (
    Citation,
    ControlCoverage,
    FrameworkCoverage,
    Procedure,
    TechniqueTexts,
    ThreatRef,
    ThreatView,
)
from store.views import score_rank

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


def _threat_row(session: Session, attack_id: str) -> Any:
    rows = session.execute(select(Threat).where(Threat.attack_id == attack_id.upper())).scalars().all()
    return min(rows, key=lambda t: _DOMAIN_ORDER.get(t.domain, 9)) if rows else None


def threat_by_id(session: Session, attack_id: str, *, coverage: bool = True) -> ThreatView | None:
    """A threat with its techniques (procedure text, citations), related threats and, unless
    ``coverage`` is false, per framework the controls covering the most of its techniques."""
    t = _threat_row(session, attack_id)
    if t is None:
        return None
    domain = t.domain
    links = (
        session.execute(
            select(ThreatLink).where(ThreatLink.domain == domain, ThreatLink.source_attack_id == t.attack_id)
        )
        .scalars()
        .all()
    )
    incoming = session.execute(
        select(ThreatLink.source_attack_id, ThreatLink.relationship).where(
            ThreatLink.domain == domain,
            ThreatLink.target_attack_id == t.attack_id,
            ThreatLink.target_kind != "technique",
        )
    ).all()
    procedures = _procedures(session, domain, [lnk for lnk in links if lnk.target_kind == "technique"])
    other_ids = {lnk.target_attack_id for lnk in links if lnk.target_kind != "technique"}
    other_ids |= {r.source_attack_id for r in incoming}
    others = (
        {
            r.attack_id: _ref(r)
            for r in session.execute(
                select(Threat).where(Threat.domain == domain, Threat.attack_id.in_(other_ids))
            ).scalars()
        }
        if other_ids
        else {}
    )

    def refs(ids: Sequence[str]) -> tuple[ThreatRef, ...]:
        return tuple(sorted((others[i] for i in set(ids) if i in others), key=lambda r: r.name.lower()))

    view = ThreatView(
        threat=_ref(t),
        domain=domain,
        description=t.description,
        platforms=tuple(t.platforms or ()),
        revoked=t.revoked,
        deprecated=t.deprecated,
        revoked_by=t.revoked_by,
        procedures=procedures,
        software=refs([lnk.target_attack_id for lnk in links if lnk.target_kind == "software"]),
        used_by=refs([r.source_attack_id for r in incoming if r.relationship == "uses"]),
        attributed_to=refs([lnk.target_attack_id for lnk in links if lnk.relationship == "attributed-to"]),
        campaigns=refs([r.source_attack_id for r in incoming if r.relationship == "attributed-to"]),
    )
    if not coverage:
        return view
    return ThreatView(
        **{f: getattr(view, f) for f in view.__dataclass_fields__ if f != "coverage"},
        coverage=tuple(coverage_of_techniques(session, view.technique_ids, domain).values()),
    )


def _procedures(session: Session, domain: str, links: Sequence[Any]) -> tuple[Procedure, ...]:
    """One entry per technique; a revoked target is shown through its replacement."""
    ids = {lnk.target_attack_id for lnk in links}
    techniques = {
        r.attack_id: r
        for r in session.execute(
            select(Technique.attack_id, Technique.name, Technique.tactics, Technique.revoked_by).where(
                Technique.domain == domain, Technique.attack_id.in_(ids)
            )
        )
    }
    replacements = {r.revoked_by for r in techniques.values() if r.revoked_by} - techniques.keys()
    if replacements:
        for r in session.execute(
            select(Technique.attack_id, Technique.name, Technique.tactics, Technique.revoked_by).where(
                Technique.domain == domain, Technique.attack_id.in_(replacements)
            )
        ):
            techniques[r.attack_id] = r
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
            technique_name=tech.name if tech is not None else tid,
            tactics=tuple(tech.tactics or ()) if tech is not None else (),
            text=lnk.description,
            citations=tuple(Citation(c.get("name") or "", c.get("url")) for c in lnk.citations or ()),
            revoked_id=revoked_id,
        )
    return tuple(sorted(out.values(), key=lambda p: p.technique_id))


def coverage_of_techniques(
    session: Session, technique_ids: Sequence[str], domain: str, frameworks: Sequence[str] | None = None
) -> dict[str, FrameworkCoverage]:
    """Per framework (newest release in ``domain``): each control with how many of the
    techniques it maps (complete rows for the exact ID), most first, then best score, then ID;
    and the techniques no control of that release maps."""
    ids = list(dict.fromkeys(technique_ids))
    releases = list(static(session).releases)
    names = frameworks if frameworks is not None else sorted({i.ref.framework for i in releases})
    newest = pick_releases(releases, names, NO_FILTERS, domain)
    if not ids or not newest:
        return {}
    pks = {info.pk: fw for fw, info in newest.items()}
    rows = _q(session, _COVERAGE_ROWS, {"tids": ids, "pks": list(pks)})
    # framework -> capability -> [name, technique IDs, best score rank, best score]
    per: dict[str, dict[str, list[Any]]] = defaultdict(dict)
    for release_id, cid, name, tid, score, status in rows:
        if status == "non_mappable" or not cid:
            continue
        caps = per[pks[release_id]]
        slot = caps.get(cid)
        if slot is None:
            slot = caps[cid] = [name, set(), -1, None]
        slot[1].add(tid)
        rank = score_rank(score)
        if rank > slot[2]:
            slot[2], slot[3] = rank, score
    out: dict[str, FrameworkCoverage] = {}
    for fw, info in newest.items():
        caps = per.get(fw, {})
        order = sorted(caps.items(), key=lambda kv: (-len(kv[1][1]), -kv[1][2], kv[0]))
        controls = [
            ControlCoverage(fw, cid, (s[0] or cid).strip(), len(s[1]), len(ids), s[3], tuple(sorted(s[1])))
            for cid, s in order
        ]
        mapped = {t for s in caps.values() for t in s[1]}
        out[fw] = FrameworkCoverage(fw, info.ref, tuple(controls), tuple(t for t in ids if t not in mapped))
    return out


_COVERAGE_ROWS = select(
    Mapping.release_id,
    Mapping.capability_id,
    Mapping.capability_name,
    Mapping.attack_id,
    Mapping.score_value,
    Mapping.status,
).where(Mapping.attack_id.in_(_ids("tids")), Mapping.release_id.in_(_ids("pks")))


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
    from store.models import Analytic, DetectionLink, DetectionStrategy

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
