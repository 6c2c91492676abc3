"""What coverage, gap, pivot, several-control and diff answers hold, for render.  Plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bot.coverage.compute import Coverage, Diff, PivotLine, Together
from store.coverage_views import ReleaseFacts

SubjectKind = Literal["technique", "techniques", "cve", "tactic", "actor", "software", "campaign", "watch"]


@dataclass(frozen=True, slots=True)
class Subject:
    kind: SubjectKind
    id: str  # T1048, CVE-2023-34362, TA0010, G0016, "watch"
    name: str


@dataclass(frozen=True, slots=True)
class GapReport:
    """Your inventory against a set of techniques (an actor's, a CVE's, a tactic's, a watch list)."""

    subject: Subject
    domain: str
    technique_names: dict[str, str]
    releases: tuple[ReleaseFacts, ...]  # the newest release of each framework your controls are in
    coverage: Coverage
    control_names: dict[str, str]  # "framework:ID" → name
    inventory_scope: str  # "workspace" | "channel" | "none"
    notes: tuple[str, ...] = ()
    kind: str = "gaps"


@dataclass(frozen=True, slots=True)
class PivotAnswer:
    source_framework: str
    source_id: str
    source_name: str
    source_release: ReleaseFacts
    target_framework: str
    target_release: ReleaseFacts | None
    source_techniques: frozenset[str]
    lines: tuple[PivotLine, ...]
    technique_names: dict[str, str] = field(default_factory=dict)
    kind: str = "pivot"


@dataclass(frozen=True, slots=True)
class TogetherAnswer:
    release: dict[str, ReleaseFacts]  # "framework:ID" → the release its techniques come from
    together: Together
    technique_names: dict[str, str] = field(default_factory=dict)
    kind: str = "together"


@dataclass(frozen=True, slots=True)
class DiffAnswer:
    subject_kind: Literal["technique", "control", "release"]
    subject_id: str
    subject_name: str
    framework: str
    before: ReleaseFacts
    after: ReleaseFacts
    diff: Diff
    notes: tuple[str, ...] = ()
    kind: str = "diff"
