"""Plain view dataclasses for ATT&CK tactics and mitigations: the techniques they gather, and
how each framework's controls cover those techniques.

Built by ``store.reads.attack_objects``; rendered by ``bot.render.attack_objects``.  Both views
say which techniques they are about (``coverage_subject`` / ``coverage_techniques`` /
``coverage_domain``), so "your controls cover N of M" applies to them as to a threat's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from store.views import Filters, ReleaseRef, TechniqueRef, ViewKind

AttackObjectKind = Literal["tactic", "mitigation"]


@dataclass(frozen=True, slots=True)
class AttackObjectRef:
    """A tactic (TA0010) or an ATT&CK mitigation (M1037)."""

    kind: AttackObjectKind
    attack_id: str
    name: str
    domain: str
    url: str | None = None
    shortname: str | None = None  # a tactic's kill-chain name: exfiltration


@dataclass(frozen=True, slots=True)
class BestControl:
    """A control and how many of the view's techniques it maps in one release."""

    capability_id: str
    name: str
    covered: int
    best_score: str | None = None


@dataclass(frozen=True, slots=True)
class FrameworkSpread:
    """One framework's newest release (as the filters allow) against the view's techniques."""

    framework: str
    release: ReleaseRef
    covered: int  # techniques at least one of its controls maps
    of: int
    best: tuple[BestControl, ...]  # the controls mapping the most techniques, first few
    unmapped: tuple[str, ...]  # technique IDs none of its controls maps


@dataclass(frozen=True, slots=True)
class TechniqueControls:
    """A technique and, per framework, the controls that map it (best first, first few)."""

    technique: TechniqueRef
    controls: tuple[tuple[str, tuple[str, ...]], ...]  # (framework, capability IDs)
    sub_techniques: int = 0  # a tactic's parent technique: its current sub-techniques


@dataclass(frozen=True, slots=True)
class AttackObjectView:
    """A tactic's or a mitigation's techniques and their coverage per framework."""

    subject: AttackObjectRef
    summary: str  # a mitigation's description, first paragraph, citations stripped; "" for tactics
    techniques: tuple[TechniqueControls, ...]  # parents first for a tactic, by ID
    coverage: tuple[FrameworkSpread, ...]  # in the order of ``frameworks``
    frameworks: tuple[str, ...]  # asked for, in order
    filters: Filters = field(default_factory=Filters)
    missing_frameworks: tuple[str, ...] = ()  # asked for, but no release in the domain
    # Every technique the coverage counts are over: a tactic's sub-techniques too, which
    # ``techniques`` folds into their parents.
    members: tuple[str, ...] = ()

    @property
    def kind(self) -> ViewKind:
        return self.subject.kind

    @property
    def provenance(self) -> tuple[ReleaseRef, ...]:
        return tuple(c.release for c in self.coverage)

    @property
    def technique_ids(self) -> tuple[str, ...]:
        return tuple(t.technique.id for t in self.techniques)

    # What "your controls cover N of M" is computed over (bot.coverage.overlay.CoversTechniques).
    @property
    def coverage_subject(self) -> tuple[str, str, str]:
        return (self.subject.kind, self.subject.attack_id, self.subject.name)

    @property
    def coverage_techniques(self) -> tuple[str, ...]:
        return self.members or self.technique_ids

    @property
    def coverage_domain(self) -> str:
        return self.subject.domain
