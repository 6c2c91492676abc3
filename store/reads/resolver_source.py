"""What the resolver needs from the store, as plain rows, read in a handful of selects.

Keeping this separate from the index lets unit tests build an index from a few hand-written
rows, and keeps every SQL statement the resolver issues in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from store.models import Capability, Mapping, Mitigation, Release, Tactic, Technique, Threat, ThreatLink
from store.reads.technique_text import TechniqueDocument, technique_documents

# Frameworks whose capability names changed between releases (rev4 → rev5 wording), so the
# names as written in older files are worth indexing too.
_RENAMED_FRAMEWORKS = ("nist_800_53", "m365")


@dataclass(frozen=True)
class TechniqueRow:
    attack_id: str
    name: str
    domain: str = "enterprise"
    tactics: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    parent_id: str | None = None
    revoked: bool = False
    deprecated: bool = False
    revoked_by: str | None = None


@dataclass(frozen=True)
class CapabilityRow:
    framework: str
    capability_id: str
    name: str
    group: str | None = None


@dataclass(frozen=True)
class GroupRow:
    framework: str
    group_id: str
    name: str


@dataclass(frozen=True)
class TacticRow:
    domain: str
    shortname: str
    name: str
    attack_id: str = ""  # TA0010


@dataclass(frozen=True)
class MitigationRow:
    """An ATT&CK mitigation (course of action): M1037 Filter Network Traffic."""

    attack_id: str
    name: str
    domain: str = "enterprise"
    revoked: bool = False
    deprecated: bool = False


@dataclass(frozen=True)
class ThreatRow:
    """A group, software or campaign: its ATT&CK ID, name and aliases (the name excluded)."""

    attack_id: str
    name: str
    kind: str  # group | software | campaign (as stored)
    aliases: tuple[str, ...] = ()
    domain: str = "enterprise"
    revoked: bool = False
    deprecated: bool = False
    revoked_by: str | None = None
    techniques: int = 0  # distinct techniques it uses: a gentle tie-breaker between namesakes


@dataclass
class IndexSource:
    techniques: list[TechniqueRow] = field(default_factory=list)
    # (attack_id, name as written in a mapping file): older ATT&CK names and revoked IDs
    mapped_names: list[tuple[str, str]] = field(default_factory=list)
    capabilities: list[CapabilityRow] = field(default_factory=list)
    # (framework, capability_id, name as written in a mapping file)
    capability_names: list[tuple[str, str, str]] = field(default_factory=list)
    groups: list[GroupRow] = field(default_factory=list)
    tactics: list[TacticRow] = field(default_factory=list)
    mitigations: list[MitigationRow] = field(default_factory=list)
    # How often the data maps each technique / capability: a gentle tie-breaker between
    # equally good names (the often-mapped "Cloud Accounts" over a rarely-mapped namesake).
    technique_counts: dict[str, int] = field(default_factory=dict)
    capability_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    threats: list[ThreatRow] = field(default_factory=list)
    # What ATT&CK writes about each technique (description, procedures, detections, ...), for
    # the text index; empty in hand-built sources, where names alone are indexed.
    documents: dict[str, TechniqueDocument] = field(default_factory=dict)


def source_from_session(session: Session) -> IndexSource:
    src = IndexSource()
    for t in session.execute(
        select(
            Technique.attack_id,
            Technique.name,
            Technique.domain,
            Technique.tactics,
            Technique.platforms,
            Technique.parent_attack_id,
            Technique.revoked,
            Technique.deprecated,
            Technique.revoked_by,
        )
    ):
        src.techniques.append(
            TechniqueRow(
                attack_id=t.attack_id,
                name=t.name,
                domain=t.domain,
                tactics=tuple(t.tactics or ()),
                platforms=tuple(t.platforms or ()),
                parent_id=t.parent_attack_id,
                revoked=bool(t.revoked),
                deprecated=bool(t.deprecated),
                revoked_by=t.revoked_by,
            )
        )
    # Two scans of the mapping rows, each giving names as written and how often they are mapped.
    for attack_id_or_none, name, n in session.execute(
        select(Mapping.attack_id, Mapping.attack_name, func.count())
        .where(Mapping.attack_id.is_not(None))
        .group_by(Mapping.attack_id, Mapping.attack_name)
    ):
        attack_id = attack_id_or_none or ""
        src.technique_counts[attack_id] = src.technique_counts.get(attack_id, 0) + n
        if name:
            src.mapped_names.append((attack_id, name))
    renamed = case((Mapping.framework.in_(_RENAMED_FRAMEWORKS), Mapping.capability_name), else_=None)
    for framework, capability_id, name, n in session.execute(
        select(Mapping.framework, Mapping.capability_id, renamed, func.count())
        .where(Mapping.capability_id.is_not(None))
        .group_by(Mapping.framework, Mapping.capability_id, renamed)
    ):
        key = (framework, capability_id or "")
        src.capability_counts[key] = src.capability_counts.get(key, 0) + n
        if name:
            src.capability_names.append((framework, key[1], name))
    src.capabilities = [
        CapabilityRow(framework=r[0], capability_id=r[1], name=r[2] or "", group=r[3])
        for r in session.execute(
            select(Capability.framework, Capability.capability_id, Capability.name, Capability.group)
        )
    ]
    seen: set[tuple[str, str]] = set()
    for framework, groups in session.execute(
        select(Release.framework, Release.capability_groups).order_by(Release.id.desc())
    ):
        for gid, gname in (groups or {}).items():
            if (framework, gid) not in seen and isinstance(gid, str):
                seen.add((framework, gid))
                src.groups.append(GroupRow(framework, gid, str(gname or gid)))
    src.tactics = [
        TacticRow(r[0], r[1], r[2], r[3] or "")
        for r in session.execute(select(Tactic.domain, Tactic.shortname, Tactic.name, Tactic.attack_id))
    ]
    src.mitigations = [
        MitigationRow(r[0], r[1], r[2], bool(r[3]), bool(r[4]))
        for r in session.execute(
            select(
                Mitigation.attack_id,
                Mitigation.name,
                Mitigation.domain,
                Mitigation.revoked,
                Mitigation.deprecated,
            ).where(Mitigation.attack_id.like("M%"))
        )
        if r[0] and r[1]
    ]
    src.threats = _threat_rows(session)
    src.documents = technique_documents(session)
    return src


_DOMAIN_ORDER = {"enterprise": 0, "mobile": 1, "ics": 2}


def _threat_rows(session: Session) -> list[ThreatRow]:
    """One row per ATT&CK ID (the enterprise object when a threat sits in several domains)."""
    uses = dict(
        session.execute(
            select(ThreatLink.source_attack_id, func.count(func.distinct(ThreatLink.target_attack_id)))
            .where(ThreatLink.target_kind == "technique")
            .group_by(ThreatLink.source_attack_id)
        ).all()
    )
    best: dict[str, ThreatRow] = {}
    rows = session.execute(
        select(
            Threat.attack_id,
            Threat.name,
            Threat.kind,
            Threat.aliases,
            Threat.domain,
            Threat.revoked,
            Threat.deprecated,
            Threat.revoked_by,
        )
    ).all()
    for r in sorted(rows, key=lambda r: (_DOMAIN_ORDER.get(r.domain, 9), r.attack_id)):
        if r.attack_id and r.attack_id not in best:
            best[r.attack_id] = ThreatRow(
                attack_id=r.attack_id,
                name=r.name,
                kind=r.kind,
                aliases=tuple(a for a in (r.aliases or ()) if isinstance(a, str)),
                domain=r.domain,
                revoked=bool(r.revoked),
                deprecated=bool(r.deprecated),
                revoked_by=r.revoked_by,
                techniques=int(uses.get(r.attack_id, 0)),
            )
    return [best[k] for k in sorted(best)]
