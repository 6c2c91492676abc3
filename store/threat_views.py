"""Plain view dataclasses for threats (groups, software, campaigns) and detections.

Built by ``store.reads.threats`` and ``store.reads.detections``; rendered by ``bot.render``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from store.attack_views import AttackObjectView
from store.views import Filters, MappingLine, Notes, ReleaseRef, TechniqueHeader, TechniqueRef, View, ViewKind


@dataclass(frozen=True, slots=True)
class Citation:
    name: str
    url: str | None


@dataclass(frozen=True, slots=True)
class ThreatRef:
    """A group, software or campaign as a name in a list."""

    attack_id: str
    name: str
    kind: str  # group | software | campaign
    stix_type: str  # intrusion-set | malware | tool | campaign
    aliases: tuple[str, ...] = ()
    url: str | None = None


@dataclass(frozen=True, slots=True)
class SubTechniqueName:
    """A sub-technique's name beside its parent's ("Compromise Accounts", "Email Accounts"):
    the answer layer writes them as one name (bot.labels.technique_name)."""

    parent: str
    name: str


@dataclass(frozen=True, slots=True)
class Procedure:
    """One technique a threat uses, with the procedure text of the ``uses`` link.

    ``technique_id`` is the technique shown: the replacement when the link's target is revoked,
    in which case ``revoked_id`` names the ID the bundle links to."""

    technique_id: str
    technique_name: str | SubTechniqueName  # as read; once answered, in words
    tactics: tuple[str, ...]
    text: str | None
    citations: tuple[Citation, ...] = ()
    revoked_id: str | None = None


@dataclass(frozen=True, slots=True)
class ControlCoverage:
    """A control and how many of the threat's techniques it maps in one release."""

    framework: str
    capability_id: str
    name: str
    covered: int
    of: int
    best_score: str | None
    techniques: tuple[str, ...]
    best_category: str | None = None  # the score category of the best mapping (ranking, display)


@dataclass(frozen=True, slots=True)
class FrameworkCoverage:
    framework: str
    release: ReleaseRef
    controls: tuple[ControlCoverage, ...]  # most techniques first, then best score, then ID
    unmapped: tuple[str, ...]  # the threat's techniques no control of this release maps
    # A category or score filter: what it kept ("detect", "significant"), and what it could not
    # apply here ("category", "score": the release's rows carry none, so every mapping counts).
    filtered_by: tuple[str, ...] = ()
    not_applied: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CollectCount:
    """A data component to collect, and how many of a threat's techniques ATT&CK reads it for."""

    data_component: str | None  # DC0032; no ID before ATT&CK v18
    name: str  # Process Creation
    techniques: int
    of: int
    data_source: str | None = None  # before v18 a component is named with its source ("Process")


@dataclass(frozen=True, slots=True)
class ThreatView:
    threat: ThreatRef
    domain: str
    description: str | None
    platforms: tuple[str, ...]
    revoked: bool
    deprecated: bool
    revoked_by: str | None
    procedures: tuple[Procedure, ...]  # by technique ID
    software: tuple[ThreatRef, ...]  # software a group or campaign uses
    used_by: tuple[ThreatRef, ...]  # groups and campaigns using this software
    attributed_to: tuple[ThreatRef, ...]  # a campaign's groups
    campaigns: tuple[ThreatRef, ...]  # a group's campaigns
    coverage: tuple[FrameworkCoverage, ...] = field(default=())
    frameworks: tuple[str, ...] = ()  # asked for, in order (the coverage is of these)
    filters: Filters = field(default_factory=Filters)
    # Techniques the asked words also name ("mimikatz" is T1003.001's alias): offered, not shown.
    also_techniques: tuple[TechniqueRef, ...] = ()
    summary: str = ""  # the description's first paragraph, citations and markup stripped
    missing_frameworks: tuple[str, ...] = ()  # asked for, but no release in the threat's domain
    tactic_order: tuple[str, ...] = ()  # the domain's tactic names in kill-chain order
    # Asked how to detect it (the detect category): the data components to collect, most first.
    collect: tuple[CollectCount, ...] = ()

    @property
    def kind(self) -> ViewKind:
        return "threat"

    @property
    def provenance(self) -> tuple[ReleaseRef, ...]:
        return tuple(c.release for c in self.coverage)

    @property
    def technique_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.technique_id for p in self.procedures))

    # What "your controls cover N of M" is computed over (bot.coverage.overlay.CoversTechniques).
    @property
    def coverage_subject(self) -> tuple[str, str, str]:
        kind = {"group": "actor"}.get(self.threat.kind, self.threat.kind)
        return (kind, self.threat.attack_id, self.threat.name)

    @property
    def coverage_techniques(self) -> tuple[str, ...]:
        return self.technique_ids

    @property
    def coverage_domain(self) -> str:
        return self.domain


@dataclass(frozen=True, slots=True)
class LogSource:
    name: str | None
    channel: str | None
    data_component: str | None
    data_component_name: str | None


@dataclass(frozen=True, slots=True)
class TunableElement:
    field: str | None
    description: str | None


@dataclass(frozen=True, slots=True)
class AnalyticView:
    attack_id: str
    name: str
    description: str | None
    url: str | None
    platforms: tuple[str, ...]
    log_sources: tuple[LogSource, ...]
    tunable: tuple[TunableElement, ...]


@dataclass(frozen=True, slots=True)
class StrategyView:
    attack_id: str
    name: str
    url: str | None
    analytics: tuple[AnalyticView, ...]


@dataclass(frozen=True, slots=True)
class ComponentDetectionView:
    """ATT&CK before v18: a data component that detects the technique, and what to look for."""

    data_source_id: str | None  # DS0017
    data_source_name: str | None  # Command
    component_id: str | None  # no ID before v18
    component_name: str  # Command Execution
    text: str | None  # "Monitor executed commands and arguments that ..."


@dataclass(frozen=True, slots=True)
class DetectSection:
    """One framework's capabilities whose mappings of the technique are in the ``detect``
    category (M365 "Detects", AWS/Azure/GCP detect scores), in its newest release."""

    framework: str
    release: ReleaseRef
    lines: tuple[MappingLine, ...]  # one per capability, strongest score first


@dataclass(frozen=True, slots=True)
class DetectionView:
    """How to detect a technique: ATT&CK's detection strategies with their analytics, and the
    capabilities that map it in the detect category."""

    header: TechniqueHeader
    strategies: tuple[StrategyView, ...]
    sections: tuple[DetectSection, ...]  # frameworks with detect mappings of the technique
    subtechniques: tuple[TechniqueRef, ...]  # each has its own strategies
    attack_release: str | None  # the loaded ATT&CK version of the technique's domain
    filters: Filters = field(default_factory=Filters)
    frameworks: tuple[str, ...] = ()  # asked for (empty: every framework)
    # Frameworks whose mappings of the technique carry no category at all (NIST, VERIS...).
    uncategorised: tuple[str, ...] = ()
    mapped: tuple[str, ...] = ()  # frameworks with any mapping of the technique (its controls)
    notes: Notes = ()
    kind: ViewKind = "detection"
    # ATT&CK before v18, which has no detection strategies: its data components' advice.
    components: tuple[ComponentDetectionView, ...] = ()

    @property
    def technique_id(self) -> str:
        return self.header.id

    @property
    def technique_name(self) -> str:
        return self.header.name

    @property
    def provenance(self) -> tuple[ReleaseRef, ...]:
        return tuple(s.release for s in self.sections)


@dataclass(frozen=True, slots=True)
class TechniqueUser:
    """A group, software or campaign that uses a technique, with the procedure text."""

    attack_id: str
    name: str
    kind: str  # group | software | campaign
    url: str | None
    procedure: str | None
    via: str | None = None  # the revoked technique ID the link names, when not this one


@dataclass(frozen=True, slots=True)
class TechniqueUsers:
    """Who uses a technique: groups, then software, then campaigns, best known first."""

    technique_id: str
    technique_name: str
    domain: str
    users: tuple[TechniqueUser, ...]
    kind: ViewKind = "users"

    @property
    def provenance(self) -> tuple[ReleaseRef, ...]:
        return ()


# Every view a request can name (``store.reads.dispatch.build_view``).
AnyView = View | ThreatView | DetectionView | AttackObjectView | TechniqueUsers


@dataclass(frozen=True, slots=True)
class TechniqueTexts:
    """What the resolver's text retrieval indexes for one technique."""

    technique_id: str
    procedures: tuple[str, ...]
    detections: tuple[str, ...]
