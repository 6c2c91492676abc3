"""Everything ATT&CK writes about each technique, as plain rows for the resolver's text index.

One pass over five tables: the technique's description, the procedure examples of every ``uses``
link to it (with who the example is about, so that a benchmark can hold examples out and strip the
actor's name), its detection strategies, analytics and data components, the mitigations' text for
it, and the software that uses it.  Markup is left to the indexer: it only needs words.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import (
    Analytic,
    ComponentDetection,
    DetectionLink,
    DetectionStrategy,
    Mitigation,
    MitigationLink,
    Technique,
    Threat,
    ThreatLink,
)

__all__ = ["ProcedureText", "TechniqueDocument", "technique_documents"]


@dataclass(frozen=True, slots=True)
class ProcedureText:
    link_id: str  # the relationship's STIX ID: a stable key for holding examples out
    source_id: str  # G0016, S0154, C0024
    source_kind: str  # group | software | campaign
    source_name: str
    text: str


@dataclass(slots=True)
class TechniqueDocument:
    attack_id: str
    domain: str
    description: str = ""
    procedures: list[ProcedureText] = field(default_factory=list)
    detections: list[str] = field(default_factory=list)  # strategy names, analytics, data components
    mitigations: list[str] = field(default_factory=list)  # mitigation name and its text for this technique
    software: list[str] = field(default_factory=list)  # names (and aliases) of software using it


def technique_documents(session: Session) -> dict[str, TechniqueDocument]:
    """Per technique ID (the first domain's object when an ID is in several), its texts."""
    docs: dict[str, TechniqueDocument] = {}
    for attack_id, domain, description in session.execute(
        select(Technique.attack_id, Technique.domain, Technique.description).order_by(Technique.domain)
    ):
        doc = docs.get(attack_id)
        if doc is None:
            docs[attack_id] = TechniqueDocument(attack_id, domain, description or "")
        elif description and description not in doc.description:
            doc.description += "\n" + description

    threats = {
        pk: (attack_id, kind, name, tuple(aliases or ()))
        for pk, attack_id, kind, name, aliases in session.execute(
            select(Threat.id, Threat.attack_id, Threat.kind, Threat.name, Threat.aliases)
        )
    }
    software_seen: dict[str, set[str]] = defaultdict(set)
    for stix_id, source_pk, tid, text in session.execute(
        select(ThreatLink.stix_id, ThreatLink.source_pk, ThreatLink.target_attack_id, ThreatLink.description)
        .where(ThreatLink.target_kind == "technique", ThreatLink.relationship == "uses")
        .order_by(ThreatLink.stix_id)
    ):
        doc = docs.get(tid)
        source = threats.get(source_pk)
        if doc is None or source is None:
            continue
        source_id, kind, name, aliases = source
        if text:
            doc.procedures.append(ProcedureText(stix_id, source_id, kind, name, text))
        if kind == "software" and source_id not in software_seen[tid]:
            software_seen[tid].add(source_id)
            doc.software.extend((name, *aliases))

    analytics = {
        (domain, aid): (description or "", [str(x.get("data_component_name") or "") for x in sources or ()])
        for domain, aid, description, sources in session.execute(
            select(Analytic.domain, Analytic.attack_id, Analytic.description, Analytic.log_sources)
        )
    }
    for tid, domain, name, analytic_ids in session.execute(
        select(
            DetectionLink.technique_attack_id,
            DetectionStrategy.domain,
            DetectionStrategy.name,
            DetectionStrategy.analytic_ids,
        ).join(DetectionStrategy, DetectionStrategy.id == DetectionLink.strategy_pk)
    ):
        doc = docs.get(tid)
        if doc is None:
            continue
        doc.detections.append(name)
        components: set[str] = set()
        for aid in analytic_ids or ():
            text, names = analytics.get((domain, aid), ("", []))
            if text:
                doc.detections.append(text)
            components.update(n for n in names if n)
        doc.detections.extend(sorted(components))
    for tid, component, text in session.execute(  # ATT&CK before v18
        select(
            ComponentDetection.technique_attack_id,
            ComponentDetection.component_name,
            ComponentDetection.description,
        ).order_by(ComponentDetection.id)
    ):
        doc = docs.get(tid)
        if doc is not None:
            doc.detections.extend(t for t in (text, component) if t)

    for tid, name, text in session.execute(
        select(MitigationLink.technique_attack_id, Mitigation.name, MitigationLink.description)
        .join(Mitigation, Mitigation.id == MitigationLink.mitigation_pk)
        .where(Mitigation.attack_id.like("M%"))
    ):
        doc = docs.get(tid)
        if doc is not None:
            doc.mitigations.append(name)
            if text:
                doc.mitigations.append(text)
    return docs
