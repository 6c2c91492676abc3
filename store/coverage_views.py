"""What the coverage reads return: releases, controls with the techniques they map, mapping rows
reduced to what a diff compares, tactics.  Plain data, no SQL, so render and the coverage
arithmetic can name them without importing the reads."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReleaseFacts:
    pk: int
    framework: str
    framework_version: str
    attack_version: str
    domain: str


@dataclass(frozen=True, slots=True)
class ControlTechniques:
    """One control of one release and the techniques it maps there."""

    framework: str
    capability_id: str
    name: str
    techniques: frozenset[str]

    @property
    def key(self) -> tuple[str, str]:
        return (self.framework, self.capability_id)


@dataclass(frozen=True, slots=True)
class MappingFact:
    """One complete mapping row, reduced to what a diff compares."""

    capability_id: str
    capability_name: str
    attack_id: str
    attack_name: str
    mapping_type: str
    score_category: str | None
    score_value: str | None


@dataclass(frozen=True, slots=True)
class TacticFacts:
    attack_id: str  # TA0010
    shortname: str  # exfiltration
    name: str
    domain: str
