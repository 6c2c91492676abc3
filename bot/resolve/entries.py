"""The resolver index's data: its entries (every technique, capability, family, threat, tactic
and mitigation), their name variants, and the fields the builder fills.

``bot.resolve.index`` adds the look-ups (``ResolverIndex``); ``bot.resolve.build`` fills the
fields.  Kept apart so that neither of those two imports the other.
"""

from __future__ import annotations

import threading
from array import array
from dataclasses import dataclass, field
from typing import Any

from bot.resolve.text import SOFT_WORDS, STOP_WORDS, stem, words
from bot.resolve.textindex import TextIndex
from bot.resolve.vocab import FRAMEWORK_WORDS

SOFT_STEMS = frozenset(stem(w) for w in SOFT_WORDS)
DOMAIN_ORDER = {"enterprise": 0, "mobile": 1, "ics": 2}

# How much a kind of name is trusted, before any framework/domain context.
PRIOR_TECHNIQUE = 1.0
PRIOR_CAPABILITY = 0.95
PRIOR_GROUP = 0.93
PRIOR_KEV_NAME = 0.9  # vulnerability names share vendor/product words with everything
PRIOR_VERIS_LEAF = 0.86  # VERIS leaves ("Brute force") repeat ATT&CK names under a path
PRIOR_OLD_NAME = 0.97
PRIOR_REVOKED = 0.9
PRIOR_DEPRECATED = 0.93
# ATT&CK tactics and mitigations: a tactic named alone ("lateral movement") is the tactic, over a
# control called the same ("Lateral Movements"); a mitigation yields to a framework control of
# the same name ("Multi-factor Authentication"), the product's own subject.
PRIOR_SHORT_FORM = 0.97  # an initialism derived from a product's name ("waf")
PRIOR_TACTIC = 0.97
PRIOR_MITIGATION = 0.9
ATTACK_OBJECT_KINDS = frozenset({"tactic", "mitigation"})


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str  # technique | capability | group (a control family) | actor | software | campaign
    id: str
    name: str
    framework: str | None = None
    domain: str = "enterprise"
    current: bool = True
    note: str | None = None
    tactics: frozenset[str] = frozenset()
    platforms: frozenset[str] = frozenset()
    prior: float = 1.0

    # Pickled by bot.index_cache thousands of times over: a plain constructor call loads several
    # times faster than the generic slots-dataclass state protocol.
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (
            Entry,
            (
                self.kind,
                self.id,
                self.name,
                self.framework,
                self.domain,
                self.current,
                self.note,
                self.tactics,
                self.platforms,
                self.prior,
            ),
        )


@dataclass(frozen=True, slots=True)
class Variant:
    entry: int
    tids: tuple[int, ...]
    weights: tuple[float, ...]
    total: float
    prior: float
    alias: bool  # shorthand: only counts when fully matched

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (Variant, (self.entry, self.tids, self.weights, self.total, self.prior, self.alias))


def name_tokens(text: str) -> list[str]:
    """Stemmed content words of a name or question, without stop and framework words."""
    return [stem(w) for w in words(text) if w not in STOP_WORDS and w not in FRAMEWORK_WORDS]


@dataclass
class IndexData:
    """What the index holds; ``ResolverIndex`` reads it."""

    entries: list[Entry] = field(default_factory=list)
    techniques: dict[str, int] = field(default_factory=dict)  # attack_id → entry
    capabilities: dict[tuple[str, str], int] = field(default_factory=dict)  # (framework, id) → entry
    groups: dict[tuple[str, str], int] = field(default_factory=dict)
    threats: dict[str, int] = field(default_factory=dict)  # G/S/C ID → entry
    threat_revoked_by: dict[str, str] = field(default_factory=dict)  # revoked threat ID → replacement
    attack_objects: dict[str, int] = field(default_factory=dict)  # tactic (TA0010) / mitigation ID → entry
    # threat entry → technique ID of an alias spelled like the threat ("mimikatz" → T1003.001)
    shadows: dict[int, str] = field(default_factory=dict)
    ids: dict[str, list[int]] = field(default_factory=dict)  # folded capability/group ID → entries
    m365_bases: dict[str, list[int]] = field(default_factory=dict)  # "def-capp" → entries
    veris_paths: list[tuple[str, int]] = field(default_factory=list)  # folded path, longest first
    nist_families: frozenset[str] = frozenset()
    cri_groups: frozenset[str] = frozenset()
    frameworks: frozenset[str] = frozenset()
    vocab: dict[str, int] = field(default_factory=dict)
    words: list[str] = field(default_factory=list)
    idf: list[float] = field(default_factory=list)
    postings: list[list[int]] = field(default_factory=list)
    variants: list[Variant] = field(default_factory=list)
    variant_bound: array[float] = field(default_factory=lambda: array("d"))  # prior / total ** 0.6
    abbreviations: dict[str, tuple[str, ...]] = field(default_factory=dict)
    revocation_depth: dict[str, int] = field(default_factory=dict)  # revoked ID → hops to a current one
    bigrams: set[tuple[str, str]] = field(default_factory=set)  # adjacent words in some name
    tactic_names: list[tuple[tuple[str, ...], str]] = field(default_factory=list)
    platform_words: dict[str, str] = field(default_factory=dict)
    replaced_by: dict[str, str] = field(default_factory=dict)  # revoked technique ID → current one
    text: TextIndex = field(default_factory=TextIndex)  # what ATT&CK writes about each technique
    default_weight: float = 3.0
    no_prefix: frozenset[str] = frozenset()  # words only threat names use: typos, never prefixes
    # A threat's name or alias as written in full ("apt28", "lockbit 3.0"), and the head word of a
    # longer name that only threat names use ("sandworm", "lockbit") → entry: the fallback when a
    # long question names a threat among words that match nothing (bot.resolve.threats).
    threat_spans: dict[str, int] = field(default_factory=dict)
    max_idf: float = 1.0
    # The words of each product framework's capability names, sorted: a vendor named in the
    # question lets a word stand for a longer product word ("amazon guard" → GuardDuty).
    framework_words: dict[str, list[str]] = field(default_factory=dict)
    _sorted_words: list[str] = field(default_factory=list)
    _by_length: dict[tuple[Any, ...], list[str]] = field(default_factory=dict)
    # Words of names as written whose stem differs ("scheduled" → "schedul"): a typo is one edit
    # from the written word but often two from its stem ("schedulde").
    _surface: dict[str, str] = field(default_factory=dict)
    _token_cache: dict[str, tuple[tuple[int, float], ...]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # Picklable for bot.index_cache: the lock is recreated, not stored.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
