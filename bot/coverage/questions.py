"""Which coverage question a resolved text asks: a pivot (``SC-07 in aws``), several controls
(``SC-07 SI-04``), a diff (``T1048 14.1 vs 16.1``, ``AC-02 rev4 vs rev5``), or none of these.

Works on the resolver's ``Resolution`` plus the two versions a diff names, which a Resolution's
single-valued filters cannot hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.resolution import Resolution

# A diff names two versions around a comparison word.
_ATTACK_VERSION = re.compile(r"(?<![\w.])(?:attack\s*|att&ck\s*|v)?(\d{1,2}\.\d{1,2})(?![\w.])", re.I)
_FRAMEWORK_VERSION = re.compile(r"(?<![\w/])(rev\s?\d|\d{1,2}/\d{1,2}/\d{4})(?![\w/])", re.I)
_DIFF_WORDS = re.compile(r"\b(?:vs\.?|versus|between|changed?|diff|difference|compare[ds]?)\b", re.I)
# "what changed", "what's new", "changes in the last sync", "what did the latest update change"
_LAST_SYNC = re.compile(
    r"^\W*(?:(?:so\s+)?what(?:'s|\s+is|\s+has|\s+was)?\s+(?:changed|new)|(?:latest|recent|last)?\s*changes?"
    r"|what\s+did\s+the\s+(?:last|latest)\s+(?:sync|update|ingest|load)\s+change)"
    r"(?:\s+(?:since|in|with|after|from)\s+(?:the\s+)?(?:last|latest|previous)\s+(?:sync|update|ingest|load|run))?"
    r"\W*$",
    re.I,
)


@dataclass(frozen=True, slots=True)
class PivotQuestion:
    framework: str
    capability_id: str
    target_framework: str


@dataclass(frozen=True, slots=True)
class TogetherQuestion:
    controls: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class DiffQuestion:
    technique_id: str | None
    control: tuple[str, str] | None
    frameworks: tuple[str, ...]  # where to compare (a control's own, or the named ones)
    attack_versions: tuple[str | None, str | None]
    framework_versions: tuple[str | None, str | None]


@dataclass(frozen=True, slots=True)
class LastSyncQuestion:
    """``what changed``: the releases the last sync or ingest loaded, against the ones before."""


CoverageQuestion = PivotQuestion | TogetherQuestion | DiffQuestion | LastSyncQuestion


def two_versions(text: str) -> tuple[tuple[str | None, str | None], tuple[str | None, str | None]] | None:
    """The two ATT&CK versions or two framework versions a diff names, in the order written."""
    if not _DIFF_WORDS.search(text):
        return None
    attack = [m.group(1) for m in _ATTACK_VERSION.finditer(text)]
    framework = [re.sub(r"\s+", "", m.group(1)).lower() for m in _FRAMEWORK_VERSION.finditer(text)]
    if len(attack) >= 2 and attack[0] != attack[1]:
        return (attack[0], attack[1]), (None, None)
    if len(framework) >= 2 and framework[0] != framework[1]:
        return (None, None), (framework[0], framework[1])
    return None


def coverage_question(text: str, r: Resolution) -> CoverageQuestion | None:
    if _LAST_SYNC.match(text):
        return LastSyncQuestion()
    caps = [(c.framework, c.id) for c in r.capabilities]
    techniques = [t.id for t in r.techniques]
    versions = two_versions(text)
    if versions and (len(techniques) == 1) != (len(caps) == 1) and len(techniques) + len(caps) == 1:
        attack_versions, framework_versions = versions
        if caps:
            return DiffQuestion(None, caps[0], (caps[0][0],), attack_versions, framework_versions)
        frameworks = tuple(r.frameworks)
        if framework_versions != (None, None) and not frameworks:
            frameworks = ("nist_800_53",)  # rev4 / rev5 are NIST's
        return DiffQuestion(techniques[0], None, frameworks, attack_versions, framework_versions)
    if techniques:
        return None
    if len(caps) == 1 and r.frameworks:
        targets = [fw for fw in r.frameworks if fw != caps[0][0]]
        if targets:
            return PivotQuestion(caps[0][0], caps[0][1], targets[0])
    if len(caps) >= 2 and not any(fw == "kev" for fw, _ in caps):
        # several CVEs, or CVEs and controls, are several questions: one line each (bot.answer)
        return TogetherQuestion(tuple(dict.fromkeys(caps)))
    return None
