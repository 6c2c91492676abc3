"""What the resolver hands to the query layer: entities, filters and intent, no Slack, no SQL.

This is the contract between ``bot.resolve`` (text → Resolution) and the query layer
(Resolution → views).  ``to_json()`` is the stable shape of ``countermap resolve --json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from store.views import Alternative, Filters

Intent = Literal[
    "technique",  # one or more techniques, no capability
    "capability",  # a control / product capability / CVE of one framework
    "pair",  # a technique and a capability together: "does SC-07 cover T1048?"
    "family",  # a control family / capability group: NIST family "SC", M365 "entra-id"
    "actor",  # an ATT&CK group (intrusion set): APT29, Cozy Bear, G0016
    "software",  # ATT&CK software (malware or tool): Mimikatz, S0002
    "campaign",  # an ATT&CK campaign: SolarWinds Compromise, C0024
    "detection",  # how to detect a technique: "how do I detect T1048", "analytics for T1003.001"
    "tactic",  # an ATT&CK tactic: TA0010, exfiltration, lateral movement
    "mitigation",  # an ATT&CK mitigation: M1037, filter network traffic
    "cve",  # a KEV CVE: its techniques, then controls for them
    "compare",  # one technique, frameworks side by side
    "framework",  # a framework alone: its releases and counts
    "help",
    "unknown",  # nothing recognised: the caller shows alternatives / help
]


@dataclass(frozen=True, slots=True)
class TechniqueHit:
    id: str  # canonical: T1048 or T1048.003
    name: str
    score: float  # 0..100
    domain: str = "enterprise"
    note: str | None = None  # e.g. "T1085 was revoked; now T1218.011 Rundll32"
    known: bool = True  # False: neither the loaded ATT&CK nor any mapping file has this ID


@dataclass(frozen=True, slots=True)
class CapabilityHit:
    framework: str  # key as in the data: nist_800_53, m365, ...
    id: str  # canonical: SC-07, PR.DS-01.01, CVE-2023-34362, DEF-CAPP-E5
    name: str
    score: float
    note: str | None = None  # e.g. "AC-2(1) is an enhancement; showing AC-02"


@dataclass(frozen=True, slots=True)
class GroupHit:
    framework: str
    id: str  # SC, entra-id, amazon_guardduty
    name: str
    score: float


ThreatKind = Literal["actor", "software", "campaign"]


@dataclass(frozen=True, slots=True)
class ThreatHit:
    """An ATT&CK group ("actor"), software or campaign the text names."""

    id: str  # G0016, S0002, C0024
    name: str
    kind: ThreatKind
    score: float
    note: str | None = None  # e.g. "G0017 was revoked; now G0016 APT29"
    # A technique the same words are shorthand for ("mimikatz" → T1003.001): the answer offers it.
    technique: str | None = None


@dataclass(frozen=True, slots=True)
class AttackObjectHit:
    """An ATT&CK tactic (TA0010) or mitigation (M1037) the text names."""

    kind: Literal["tactic", "mitigation"]
    id: str
    name: str
    score: float
    domain: str = "enterprise"


@dataclass(frozen=True, slots=True)
class Resolution:
    query: str
    intent: Intent
    techniques: tuple[TechniqueHit, ...] = ()
    capabilities: tuple[CapabilityHit, ...] = ()
    frameworks: tuple[str, ...] = ()  # framework keys named in the text (or forced by options)
    groups: tuple[GroupHit, ...] = ()  # control families / capability groups (intent "family")
    threats: tuple[ThreatHit, ...] = ()
    attack_objects: tuple[AttackObjectHit, ...] = ()  # tactics and mitigations, best first
    filters: Filters = field(default_factory=Filters)
    alternatives: tuple[Alternative, ...] = ()
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "intent": self.intent,
            "techniques": [{"id": t.id, "name": t.name, "score": round(t.score, 1)} for t in self.techniques],
            "capabilities": [
                {"framework": c.framework, "id": c.id, "name": c.name, "score": round(c.score, 1)}
                for c in self.capabilities
            ],
            "frameworks": list(self.frameworks),
            "groups": [asdict(g) for g in self.groups],
            "threats": [
                {"id": t.id, "name": t.name, "kind": t.kind, "score": round(t.score, 1)}
                | ({"technique": t.technique} if t.technique else {})
                for t in self.threats
            ],
            "tactics": [
                {"id": a.id, "name": a.name, "score": round(a.score, 1), "domain": a.domain}
                for a in self.attack_objects
                if a.kind == "tactic"
            ],
            "mitigations": [
                {"id": a.id, "name": a.name, "score": round(a.score, 1), "domain": a.domain}
                for a in self.attack_objects
                if a.kind == "mitigation"
            ],
            "filters": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self.filters).items()},
            "alternatives": [asdict(a) for a in self.alternatives],
            "notes": list(self.notes),
        }
