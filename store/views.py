"""What an answer says, as plain data: ``store.reads`` fills these, ``bot.render`` reads them.

No Slack or terminal types here, so one view feeds Block Kit, rich, ``--json``, CSV and
ATT&CK Navigator exports alike, and tests can assert on facts rather than markup.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from typing import Literal

SCORE_CATEGORIES = ("protect", "detect", "respond")
SCORE_VALUES = ("minimal", "partial", "significant")  # weakest first


@dataclass(frozen=True, slots=True)
class Filters:
    """What a question narrows its answer to (from the resolver, or a command's options); here,
    not in ``bot``, because the reads apply them and ``store`` imports nothing from ``bot``."""

    framework_version: str | None = None  # rev4, rev5, 07/18/2025, v2.1
    attack_version: str | None = None  # 14.1
    domain: str | None = None  # enterprise | mobile | ics
    categories: tuple[str, ...] = ()  # subset of SCORE_CATEGORIES
    min_score: str | None = None  # one of SCORE_VALUES

    def is_empty(self) -> bool:
        return self == Filters()


@dataclass(frozen=True, slots=True)
class Alternative:
    """A "did you mean" candidate; ``query`` is the text that resolves to exactly it."""

    kind: Literal["technique", "capability", "group", "framework", "threat", "tactic", "mitigation"]
    id: str
    label: str
    score: float
    framework: str | None = None
    query: str = ""


ViewKind = Literal[
    "technique",
    "capability",
    "pair",
    "group",
    "framework",
    "cve",
    "compare",
    "multi",
    "threat",
    "detection",
    "tactic",
    "mitigation",
    "users",
    "help",
    "unknown",
]

# The frameworks this product knows, loaded or not (their names for users: bot.labels).
FRAMEWORKS: tuple[str, ...] = (
    "nist_800_53",
    "m365",
    "aws",
    "azure",
    "gcp",
    "veris",
    "kev",
    "cri_profile",
    "csa_ccm",
    "intel-vpro",
)


_SCORE_RANK = {v: i + 1 for i, v in enumerate(SCORE_VALUES)}
_CATEGORY_RANK = {c: i for i, c in enumerate(SCORE_CATEGORIES)}


def score_rank(value: str | None) -> int:
    """``significant`` 3, ``partial`` 2, ``minimal`` 1, anything else 0: for "best score"."""
    return _SCORE_RANK.get(value, 0) if value else 0


def category_rank(category: str | None) -> int:
    """Protect, detect, respond, then anything else: the one order every surface uses."""
    return _CATEGORY_RANK.get(category, len(SCORE_CATEGORIES)) if category else len(SCORE_CATEGORIES)


# --------------------------------------------------------------------------- building blocks


@dataclass(frozen=True, slots=True)
class ReleaseRef:
    """One mapping release, and the provenance every view carries."""

    framework: str
    framework_version: str
    attack_version: str
    domain: str
    last_update: str | None = None  # ISO date
    mapping_version: str | None = None


NoteKind = Literal[
    "unfiltered",  # a filter the framework's mappings cannot carry: count shown unfiltered
    "hidden",  # count mappings of the technique hidden by the category or score filter
    "capability_hidden",  # count mappings of the capability hidden by those filters
    "detect_hidden",  # count detect mappings below the minimum score
    "fell_back",  # frameworks have no release in domain; others answer instead
    "no_release",  # no release (in domain, when given) of frameworks matches the filters
    "not_in_release",  # the capability subject is not in release
]


@dataclass(frozen=True, slots=True)
class Note:
    """A fact a view reports beside its rows; ``bot.render.notes`` words it for users."""

    kind: NoteKind
    count: int = 0
    frameworks: tuple[str, ...] = ()
    # fell_back: the frameworks answering instead; unfiltered: the filters that could not apply
    # ("category", "score")
    others: tuple[str, ...] = ()
    domain: str = ""
    subject: str = ""
    release: ReleaseRef | None = None


# A view's notes as read are Note facts; the answer layer words them (bot.render.notes.worded)
# before the view is cached, rendered or printed as JSON.
Notes = tuple[Note | str, ...]


@dataclass(frozen=True, slots=True)
class MappingLine:
    """One mapping row as shown: capability and technique, how it maps, and why."""

    key: str  # stable across re-ingests: "rev5@16.1@enterprise|SC-07|T1048|mitigates"
    framework: str
    capability_id: str  # canonical
    capability_name: str
    capability_id_as_written: str
    group: str | None
    attack_id: str
    attack_name: str
    mapping_type: str
    mapping_type_label: str
    score_category: str | None = None
    score_value: str | None = None
    comments: str | None = None  # without the license requirements
    license_requirements: str | None = None
    references: tuple[str, ...] = ()

    @property
    def feature(self) -> str | None:
        """What a scored mapping depends on, when its type names it: Intel vPro names each type
        after the feature the hardware enables ("Win 11, Secure Boot", "CrowdStrike AMS"), so one
        capability maps one technique once per feature.  None when the type only says the row is
        scored (``technique_scores``) or the row is unscored (its type is then its label)."""
        if not self.score_category or "score" in self.mapping_type:
            return None
        return self.mapping_type_label or None


@dataclass(frozen=True, slots=True)
class MappingGroup:
    """Mappings of one mapping type, or of one score category for scored frameworks."""

    # The group's name in words ("Protect", "Primary impact"): empty as read, filled in by the
    # answer layer (bot.render.notes.worded, through bot.labels), from the facts below.
    label: str = ""
    _: KW_ONLY
    mapping_type: str
    score_category: str | None
    lines: tuple[MappingLine, ...]

    @property
    def feature(self) -> str | None:
        """The feature every line of the group depends on (a group has one mapping type)."""
        return self.lines[0].feature if self.lines else None


@dataclass(frozen=True, slots=True)
class FrameworkSection:
    """A framework's mappings for one subject in one release (the newest unless filtered)."""

    framework: str
    release: ReleaseRef
    groups: tuple[MappingGroup, ...]
    total: int
    non_mappable: bool = False  # the release marks the subject as not mappable
    # Other releases of the framework that map the subject: (release, mapping count), newest first.
    other_releases: tuple[tuple[ReleaseRef, int], ...] = ()
    hidden: int = 0  # mappings in this release that the category or score filter left out


@dataclass(frozen=True, slots=True)
class TechniqueRef:
    id: str
    name: str
    domain: str = "enterprise"


@dataclass(frozen=True, slots=True)
class TechniqueHeader:
    id: str
    name: str
    domain: str
    tactics: tuple[str, ...]  # display names in kill-chain order
    platforms: tuple[str, ...]
    summary: str  # first paragraph, citations and markup stripped
    stix_url: str | None  # the ATT&CK page as the bundle names it (None: not in the loaded ATT&CK)
    attack_version: (
        str | None
    )  # ATT&CK version of the releases shown (Mappings Explorer's pages are per version)
    is_subtechnique: bool = False
    parent: TechniqueRef | None = None
    revoked: bool = False
    deprecated: bool = False
    replaced_by: TechniqueRef | None = None
    known: bool = True  # False: only mapping files name it (not in the loaded ATT&CK)


@dataclass(frozen=True, slots=True)
class MitigationLine:
    id: str  # M1057
    name: str
    url: str | None


@dataclass(frozen=True, slots=True)
class SubTechniqueCount:
    id: str
    name: str
    count: int  # mappings in the releases shown
    per_framework: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class ThreatName:
    """A group, software or campaign named on a technique answer's "used by" line."""

    attack_id: str  # G0016
    name: str  # APT29
    kind: str  # group | software | campaign
    url: str | None = None


@dataclass(frozen=True, slots=True)
class UsedBy:
    """Who ATT&CK says uses a technique (``uses`` links, revoked IDs through their replacement):
    counts per kind, and the best-known few (most techniques in ATT&CK first)."""

    groups: int
    software: int
    campaigns: int
    top: tuple[ThreatName, ...]

    @property
    def total(self) -> int:
        return self.groups + self.software + self.campaigns


# --------------------------------------------------------------------------- views


@dataclass(frozen=True, slots=True)
class TechniqueView:
    header: TechniqueHeader
    mitigations: tuple[MitigationLine, ...]
    sections: tuple[FrameworkSection, ...]
    subtechniques: tuple[SubTechniqueCount, ...]
    filters: Filters
    frameworks: tuple[str, ...]  # asked for
    # Frameworks not shown that map the technique: (framework, mapping count in newest release).
    also_mapped_in: tuple[tuple[str, int], ...] = ()
    notes: Notes = ()
    kind: ViewKind = "technique"
    used_by: UsedBy | None = None  # None: no group, software or campaign uses it

    @property
    def provenance(self) -> tuple[ReleaseRef, ...]:
        return tuple(s.release for s in self.sections)


@dataclass(frozen=True, slots=True)
class CapabilityRef:
    framework: str
    id: str
    name: str
    group: str | None = None
    group_name: str | None = None


@dataclass(frozen=True, slots=True)
class TacticGroup:
    tactic: str  # ATT&CK's name; as read, "" for techniques outside the loaded ATT&CK (bot names it)
    groups: tuple[MappingGroup, ...]
    count: int


@dataclass(frozen=True, slots=True)
class Tally:
    """What one of a capability's counts counts: mappings of a score category and value, or of
    an unscored mapping type (``type_label``, the release's label for it)."""

    score_category: str | None
    score_value: str | None
    type_label: str = ""


# A capability's counts as read are keyed by Tally facts; the answer layer words the keys
# (bot.labels: "Protect · significant", "Mitigates").
Counts = tuple[tuple[Tally | str, int], ...]


@dataclass(frozen=True, slots=True)
class CapabilityView:
    capability: CapabilityRef
    description: str | None
    release: ReleaseRef | None  # None: the capability is in no release matching the filters
    tactics: tuple[TacticGroup, ...]
    total: int
    counts: Counts  # mappings per score category and value, or per unscored mapping type
    filters: Filters
    non_mappable: bool = False
    other_releases: tuple[tuple[ReleaseRef, int], ...] = ()
    notes: Notes = ()
    kind: ViewKind = "capability"

    @property
    def provenance(self) -> tuple[ReleaseRef, ...]:
        return (self.release,) if self.release else ()


@dataclass(frozen=True, slots=True)
class PairRelease:
    release: ReleaseRef
    lines: tuple[MappingLine, ...]  # empty: this release does not map the pair


@dataclass(frozen=True, slots=True)
class ControlLine:
    """A capability that maps a technique, summarised: for digests, CVE and "closest" lists."""

    framework: str
    capability_id: str
    name: str
    mapping_type: str
    score_category: str | None = None
    score_value: str | None = None
    count: int = 1  # mappings it has for the techniques asked about


@dataclass(frozen=True, slots=True)
class PairView:
    technique: TechniqueHeader
    capability: CapabilityRef
    releases: tuple[PairRelease, ...]  # newest first, every release of the framework in the domain
    subtechniques: tuple[TechniqueRef, ...]  # sub-techniques the capability also maps (newest release)
    mapped: bool
    closest: tuple[ControlLine, ...]  # when not mapped: capabilities of the framework that do map
    filters: Filters
    notes: Notes = ()
    kind: ViewKind = "pair"

    @property
    def provenance(self) -> tuple[ReleaseRef, ...]:
        return tuple(r.release for r in self.releases)


@dataclass(frozen=True, slots=True)
class GroupMember:
    id: str
    name: str
    count: int


@dataclass(frozen=True, slots=True)
class GroupView:
    framework: str
    id: str
    name: str
    release: ReleaseRef | None
    members: tuple[GroupMember, ...]  # capabilities of the group, most mappings first
    total: int
    filters: Filters
    kind: ViewKind = "group"

    @property
    def provenance(self) -> tuple[ReleaseRef, ...]:
        return (self.release,) if self.release else ()


@dataclass(frozen=True, slots=True)
class ReleaseSummary:
    release: ReleaseRef
    mappings: int
    non_mappable: int
    capabilities: int
    techniques: int
    mapping_types: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class FrameworkView:
    framework: str
    releases: tuple[ReleaseSummary, ...]  # newest first
    filters: Filters
    kind: ViewKind = "framework"

    @property
    def provenance(self) -> tuple[ReleaseRef, ...]:
        return tuple(r.release for r in self.releases)


@dataclass(frozen=True, slots=True)
class CveTechnique:
    technique: TechniqueRef
    impacts: tuple[str, ...]  # mapping type labels: "Primary impact", "Exploitation technique"
    comments: str | None = None


@dataclass(frozen=True, slots=True)
class CveView:
    cve: CapabilityRef  # name: the vulnerability name
    description: str | None
    release: ReleaseRef | None
    techniques: tuple[CveTechnique, ...]
    controls: tuple[tuple[str, tuple[ControlLine, ...]], ...]  # (framework, best controls)
    frameworks: tuple[str, ...]
    filters: Filters
    control_releases: tuple[ReleaseRef, ...] = ()
    # The KEV "exploitation technique" IDs: the best controls are those that fix the flaw itself
    # (patching, vulnerability management) and stop these, then the others that stop these, then
    # by how many of the CVE's techniques they cover, then by score.
    exploited: tuple[str, ...] = ()
    kind: ViewKind = "cve"

    @property
    def provenance(self) -> tuple[ReleaseRef, ...]:
        return ((self.release,) if self.release else ()) + self.control_releases


@dataclass(frozen=True, slots=True)
class CategoryCoverage:
    count: int
    best: str | None  # best score value, None for unscored mapping types


@dataclass(frozen=True, slots=True)
class Coverage:
    """How one framework's newest release covers one technique."""

    framework: str
    release: ReleaseRef
    total: int
    # Keyed by score category for scored frameworks, else by mapping type.
    categories: dict[str, CategoryCoverage] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CompareView:
    technique: TechniqueHeader
    rows: tuple[Coverage, ...]  # one per framework with a release in the domain, asked order
    missing: tuple[str, ...]  # frameworks asked for with no release in the technique's domain
    filters: Filters
    kind: ViewKind = "compare"
    # Per framework (asked order), its best controls for the technique: what a compare is for.
    best: tuple[tuple[str, tuple[ControlLine, ...]], ...] = ()

    @property
    def provenance(self) -> tuple[ReleaseRef, ...]:
        return tuple(r.release for r in self.rows)


@dataclass(frozen=True, slots=True)
class MultiEntry:
    """One entity of a question that named several: the facts of its compact line, and the
    request that opens its full answer (None when it does not exist)."""

    kind: ViewKind  # technique | capability | cve | pair
    id: str  # technique ID, capability ID or CVE; a pair's capability ID
    name: str
    framework: str | None = None  # capability, CVE, pair
    known: bool = True  # False: no such technique in the loaded ATT&CK or any mapping file
    total: int = 0  # technique: mappings in the releases shown; capability and CVE: techniques
    controls: tuple[ControlLine, ...] = ()  # technique and CVE: the best controls, ranked
    techniques: tuple[TechniqueRef, ...] = ()  # capability and CVE: techniques it maps (first few)
    mapped: bool | None = None  # pair: the capability maps the technique in its newest release
    how: tuple[str, ...] = ()  # pair: mapping type labels in that release
    release: ReleaseRef | None = None  # capability, CVE and pair: the release the line is from
    nearest: tuple[TechniqueRef, ...] = ()  # unknown technique: the nearest existing IDs
    request: ViewRequest | None = None


@dataclass(frozen=True, slots=True)
class MultiView:
    """A question that named several techniques, controls or CVEs: one line per entity, never
    an accidental pair."""

    entries: tuple[MultiEntry, ...]
    frameworks: tuple[str, ...]  # the frameworks a technique's line draws its controls from
    filters: Filters
    technique: TechniqueRef | None = None  # one technique and several controls: the pairs' technique
    kind: ViewKind = "multi"

    @property
    def provenance(self) -> tuple[ReleaseRef, ...]:
        return tuple(dict.fromkeys(e.release for e in self.entries if e.release))


NotLoadedKind = Literal["threat", "technique", "attack_object", "nothing"]


@dataclass(frozen=True, slots=True)
class NotLoaded:
    """A request naming what the loaded data does not hold (``subject``), or nothing at all; the
    answer layer words it as a MessageView."""

    what: NotLoadedKind
    subject: str = ""


@dataclass(frozen=True, slots=True)
class MessageView:
    """Help, "did you mean", or a clean refusal: text plus clickable alternatives."""

    title: str
    text: str
    query: str = ""
    alternatives: tuple[Alternative, ...] = ()
    kind: ViewKind = "unknown"

    @property
    def provenance(self) -> tuple[ReleaseRef, ...]:
        return ()


View = (
    TechniqueView
    | CapabilityView
    | PairView
    | GroupView
    | FrameworkView
    | CveView
    | CompareView
    | MultiView
    | MessageView
)


@dataclass(frozen=True, slots=True)
class ViewRequest:
    """Everything needed to rebuild a view: what a button's state carries, what a Resolution
    becomes.  IDs are canonical; ``frameworks`` is the order to show."""

    kind: ViewKind
    techniques: tuple[str, ...] = ()
    capabilities: tuple[tuple[str, str], ...] = ()  # (framework, id)
    group: tuple[str, str] | None = None  # (framework, id)
    frameworks: tuple[str, ...] = ()
    filters: Filters = field(default_factory=Filters)
    domain: str | None = None
    # kind "threat": the group, software or campaign (G0016, S0002, C0024); its ``techniques``
    # are those the asked words also name ("mimikatz" → T1003.001), offered as a button.
    threat: str | None = None
    attack_object: str | None = None  # kinds "tactic" and "mitigation": TA0010, M1037
