"""Threats in the resolver: ATT&CK groups ("actors"), software and campaigns by ID, name and
alias.

Kept apart from ``resolver.py`` so the name matcher stays one algorithm for every kind of
entry: threats are entries like techniques and controls, scored by the same IDF matching
(typos, word order, partial names), and only their IDs and their intents are read here.

A software name that is also a technique alias ("mimikatz", "psexec", "certutil") names the
software: an analyst who types a tool's name wants to know what the tool does, and the
software answer offers the technique the alias stood for as a button
(``ResolverIndex.shadows``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.resolve.text import STOP_WORDS, fold, stem, words

if TYPE_CHECKING:
    from store.reads.resolver_source import ThreatRow

# How much a threat's name is trusted next to a technique's or a control's.  A little below
# a technique, so a technique named exactly like a tool keeps the question ("Pass the Hash"
# is T1550.002, not the "Pass-The-Hash Toolkit").
PRIOR_THREAT = 0.96
PRIOR_THREAT_ALIAS = 0.97  # an ATT&CK alias ("Cozy Bear") against the threat's own name
PRIOR_SHADOWED_ALIAS = 0.9  # a technique alias that is also a software name
PRIOR_THREAT_REVOKED = 0.9

KIND_OF = {"group": "actor", "software": "software", "campaign": "campaign"}
THREAT_KINDS = frozenset(KIND_OF.values())
KIND_ORDER = {"actor": 3, "software": 4, "campaign": 5}

# Words that say what kind of threat a name is ("Conti ransomware", "Emotet infection", "APT29
# actor"): next to a threat named in full they are part of naming it, not a technique's words.
DESCRIPTORS = frozenset(
    stem(w)
    for w in (
        "ransomware", "malware", "trojan", "rat", "backdoor", "loader", "stealer", "infostealer",
        "botnet", "worm", "wiper", "implant", "beacon", "infection", "infected", "variant", "strain",
        "payload", "dropper", "tool", "actor", "apt", "gang", "crew", "campaign", "operation",
        "group", "groups",
    )
)  # fmt: skip

THREAT_ID_RE = re.compile(r"(?<![\w.\-/&])([GSCgsc])[-_#]?(\d{4})(?![\w\-]|\.\d)")
_THREAT_HINT_RE = re.compile(r"[GSCgsc][-_#]?\d{4}")


def threat_id_matches(text: str) -> list[tuple[int, int, str]]:
    """(start, end, canonical ID) of every G/S/C ID in ``text``."""
    if not _THREAT_HINT_RE.search(text):
        return []
    return [(m.start(), m.end(), f"{m.group(1).upper()}{m.group(2)}") for m in THREAT_ID_RE.finditer(text)]


@dataclass(frozen=True, slots=True)
class ThreatEntry:
    """What the index keeps of a threat, and the names it is found by: (name, prior)."""

    kind: str  # actor | software | campaign
    attack_id: str
    name: str
    domain: str
    current: bool
    note: str | None
    prior: float
    variants: tuple[tuple[str, float], ...]


def threat_entries(rows: list[ThreatRow]) -> list[ThreatEntry]:
    """Each group, software and campaign as an index entry."""
    most = max((r.techniques for r in rows), default=1) or 1
    out: list[ThreatEntry] = []
    names = {r.attack_id: r.name for r in rows}
    for r in rows:
        kind = KIND_OF.get(r.kind)
        if kind is None:
            continue
        note = None
        prior = PRIOR_THREAT
        if r.revoked:
            prior = PRIOR_THREAT_REVOKED
            repl = names.get(r.revoked_by or "")
            note = (
                f"{r.attack_id} was revoked; now {r.revoked_by} {repl}"
                if repl
                else f"{r.attack_id} was revoked in ATT&CK"
            )
        elif r.deprecated:
            prior = PRIOR_THREAT_REVOKED
            note = f"{r.attack_id} is deprecated in ATT&CK"
        # A threat ATT&CK says more about wins a tie between namesakes ("Carbanak" the group).
        prior *= 0.985 + 0.015 * min(r.techniques, most) / most
        variants = [(r.name, 1.0)]
        variants.extend((a, PRIOR_THREAT_ALIAS) for a in r.aliases if fold(a) != fold(r.name))
        current = not (r.revoked or r.deprecated)
        out.append(ThreatEntry(kind, r.attack_id, r.name, r.domain, current, note, prior, tuple(variants)))
    return out


class _Named(Protocol):
    @property
    def prior(self) -> float: ...


SPAN_MIN_CHARS = 4  # "at", "net", "reg": tool names that are ordinary words in a question
NAMED_THREAT_SCORE = 80.0  # a full name among unmatched words: sure, yet below a name the scorer accepts
HEAD_MIN_CHARS = 5


def threat_spans(
    terms: Mapping[str, int], entries: Sequence[_Named], no_prefix: Collection[str]
) -> dict[str, int]:
    """The threat names a question may hold verbatim among other words: every name or alias of
    at least ``SPAN_MIN_CHARS`` that is several words, carries a digit, or is a word only threat
    names use; and the first word of a longer name when only threat names use it ("sandworm" for
    Sandworm Team, "lockbit" for LockBit 3.0: of namesakes, the one ATT&CK says most about)."""
    out: dict[str, int] = {}
    heads: dict[str, int] = {}
    for term, i in terms.items():
        ws = words(term)
        if not ws or len(term) < SPAN_MIN_CHARS or all(w in STOP_WORDS for w in ws):
            continue
        if len(ws) > 1 or any(c.isdigit() for c in term) or stem(ws[0]) in no_prefix:
            out.setdefault(" ".join(ws), i)
        head = ws[0]
        if len(ws) > 1 and len(head) >= HEAD_MIN_CHARS and not head.isdigit() and stem(head) in no_prefix:
            best = heads.get(head)
            if best is None or entries[i].prior > entries[best].prior:
                heads[head] = i
    for head, i in heads.items():
        out.setdefault(head, i)
    return out


def named_threats(spans: Mapping[str, int], text: str, longest: int = 4) -> list[int]:
    """Entries whose span (``threat_spans``) the text holds as whole words, longest first."""
    ws = words(fold(text))
    found: list[int] = []
    i = 0
    while i < len(ws):
        for n in range(min(longest, len(ws) - i), 0, -1):
            entry = spans.get(" ".join(ws[i : i + n]))
            if entry is not None:
                if entry not in found:
                    found.append(entry)
                i += n
                break
        else:
            i += 1
    return found
