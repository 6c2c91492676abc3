"""Which ATT&CK groups and software a channel message names, for incident cards.

An incident channel talks about hosts, tickets and people: a card for every word that happens to
be a malware name would bury the thread.  So only exact names and aliases count, word for word,
and how they must be written depends on how distinctive they are:

* with a digit, several words, or inner capitals (APT29, Cozy Bear, LockBit, PsExec): any case;
  several words that are all English (Magic Hound, Quick Assist): as ATT&CK writes them;
* one word in capitals (NOBELIUM, EKANS): as written;
* one plain word that is not English (Mimikatz, Kimsuky, Turla): as ATT&CK writes it or in
  capitals, and in lower case too when it is 6 letters or more (mimikatz, emotet);
* an English word (Silence, Play, Snake, Empire, Reaper) or a word under 5 letters (Ryuk): as
  written, and next to a word that says what it is ("Play ransomware", "the Snake malware");
* a name with a version ("LockBit 3.0") is also named without it, unless another threat is;
* under 4 characters, and tools ATT&CK names in lower case (certutil, netstat, at: the operating
  system's own commands): never.

English is the ``web2`` word list of the ``english-words`` package, read once when the names are
indexed.  Code spans and link targets are skipped, as for techniques.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from english_words import get_english_words_set

from store.db import Engine
from store.reads.card_names import CardName
from store.reads.scope import view_reads

log = logging.getLogger(__name__)

MAX_THREAT_CARDS = 3
MIN_LENGTH = 4
LOWER_CASE_MIN = 6
_VERSION = re.compile(r"^(.*\S)\s+v?\d+(?:\.\d+)*$")
# The last word of vendors' actor names ("Cozy Bear", "Volt Typhoon", "Sandworm Team"): such a
# name is an actor in any case, and "Lazarus Group" is named "Lazarus" too.
ACTOR_NOUNS = frozenset(
    {
        "bear", "panda", "kitten", "spider", "chollima", "typhoon", "blizzard", "sandstorm", "sleet",
        "tempest", "cyclone", "hail", "dust", "jackal", "tiger", "leopard", "buffalo", "team", "group",
    }
)  # fmt: skip
CUES = frozenset(
    {
        "ransomware", "malware", "group", "apt", "actor", "actors", "threat", "rat", "backdoor",
        "trojan", "loader", "stealer", "infostealer", "wiper", "botnet", "framework", "campaign", "gang",
        "beacon", "implant", "c2", "toolkit", "variant", "operators", "operator", "affiliate",
        "affiliates", "payload", "dropper", "worm", "spyware", "crew", "team", "tool", "hackers",
        "hacker", "apts",
    }
)  # fmt: skip

_TOKEN = re.compile(r"[A-Za-z0-9]+")
_SLACK_LINK = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)
_INNER_CAPITAL = re.compile(r"[a-z][A-Z]|[A-Z]{2,}[a-z]")


@dataclass(frozen=True, slots=True)
class _Rule:
    attack_id: str
    forms: frozenset[str]  # the exact spellings allowed; empty: any case
    cue: bool  # a cue word must stand next to it
    rank: int  # which of several threats sharing a name wins (groups, then software)


def _rule(text: str, threat: CardName, english: frozenset[str], *, rank_shift: int = 0) -> _Rule | None:
    tokens = _TOKEN.findall(text)
    if len("".join(tokens)) < MIN_LENGTH:
        return None
    rank = {"group": 0, "software": 1, "campaign": 2}.get(threat.kind, 3) + rank_shift
    if threat.stix_type == "tool" and text == text.lower() and len(tokens) == 1:
        return None  # the operating system's own commands
    exact = frozenset({text, text.upper()})
    if len(tokens) > 1:
        common = (
            all(t.lower() in english or t.isdigit() for t in tokens) and tokens[-1].lower() not in ACTOR_NOUNS
        )
        return _Rule(threat.attack_id, exact if common else frozenset(), False, rank)
    if any(c.isdigit() for c in text) or _INNER_CAPITAL.search(text):
        return _Rule(threat.attack_id, frozenset(), False, rank)
    if text.isupper():
        return _Rule(threat.attack_id, frozenset({text}), len(text) < 5, rank)
    if text.lower() in english or len(text) < 5:
        return _Rule(threat.attack_id, exact, True, rank)
    forms = exact | ({text.lower()} if len(text) >= LOWER_CASE_MIN else set())
    return _Rule(threat.attack_id, frozenset(forms), False, rank)


def english_words() -> frozenset[str]:
    return frozenset(get_english_words_set(["web2"], lower=True, alpha=True))


class ThreatSpotter:
    """Built once per data version from ``CardNames``; ``find`` is a dictionary look-up per
    word sequence of the message (microseconds: it runs in the ack path)."""

    def __init__(self, threats: Sequence[CardName], english: frozenset[str]) -> None:
        self._phrases: dict[tuple[str, ...], list[_Rule]] = {}
        self.longest = 1
        unversioned: list[tuple[str, CardName]] = []
        for t in threats:
            for text in (t.name, *t.aliases):
                self._add(text.strip(), t, english)
                m = _VERSION.match(text.strip())
                if m:
                    unversioned.append((m.group(1), t))
                words = text.split()
                if len(words) == 2 and words[1].lower() in ("group", "team"):
                    unversioned.append((words[0], t))
        for text, t in sorted(unversioned, key=lambda x: x[1].name, reverse=True):  # newest version wins
            if tuple(w.lower() for w in _TOKEN.findall(text)) not in self._phrases:
                self._add(text, t, english, rank_shift=10)
        for rules in self._phrases.values():
            rules.sort(key=lambda r: r.rank)

    def _add(self, text: str, threat: CardName, english: frozenset[str], *, rank_shift: int = 0) -> None:
        rule = _rule(text, threat, english, rank_shift=rank_shift)
        if rule is None:
            return
        key = tuple(w.lower() for w in _TOKEN.findall(text))
        self._phrases.setdefault(key, []).append(rule)
        self.longest = max(self.longest, len(key))

    def find(self, message: str, limit: int = MAX_THREAT_CARDS) -> list[str]:
        """ATT&CK IDs of the threats ``message`` names, first mention first."""
        plain = _SLACK_LINK.sub(
            lambda m: f" {m.group(2)} " if m.group(2) else " ", _CODE.sub(" ", message or "")
        )
        words = [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(plain)]
        lowered = [w.lower() for w, _, _ in words]
        found: dict[str, None] = {}
        i = 0
        while i < len(words) and len(found) < limit:
            matched = 0
            for n in range(min(self.longest, len(words) - i), 0, -1):
                rules = self._phrases.get(tuple(lowered[i : i + n]))
                if not rules:
                    continue
                written = plain[words[i][1] : words[i + n - 1][2]]
                rule = next((r for r in rules if self._fits(r, written, lowered, i, n)), None)
                if rule is not None:
                    found.setdefault(rule.attack_id, None)
                    matched = n
                    break
            i += matched or 1
        return list(found)

    @staticmethod
    def _fits(rule: _Rule, written: str, lowered: Sequence[str], i: int, n: int) -> bool:
        if rule.forms and " ".join(written.split()) not in rule.forms and written not in rule.forms:
            return False
        if rule.cue:
            near = {lowered[i - 1] if i > 0 else "", lowered[i + n] if i + n < len(lowered) else ""}
            return bool(near & CUES)
        return True


class ThreatMentions:
    """The spotter of the loaded data, for one app: built on a worker thread the first time a
    message needs it (reading the names and the word list takes about a second) and again when
    the answerer's data version moves, so that no ack waits for it."""

    def __init__(self, engine: Engine, version: Callable[[], str | None]) -> None:
        self.engine = engine
        self.version = version
        self._spotter: ThreatSpotter | None = None
        self._built_for: str | None = None
        self._lock = threading.Lock()
        self._building = False

    def _build(self) -> ThreatSpotter:
        version = self.version()
        with view_reads(self.engine) as data:
            spotter = ThreatSpotter(data.card_names(), english_words())
        with self._lock:
            self._spotter, self._built_for, self._building = spotter, version, False
        return spotter

    def _current(self) -> ThreatSpotter | None:
        with self._lock:
            fresh = self._spotter is not None and self._built_for == self.version()
            if fresh or self._building:
                return self._spotter
            self._building = True
        threading.Thread(target=self._build_logged, name="cm-threat-names", daemon=True).start()
        return self._spotter

    def _build_logged(self) -> None:
        try:
            self._build()
        except Exception:
            log.exception("could not index the threat names for incident cards")
            with self._lock:
                self._building = False

    def may_name(self, message: str) -> bool:
        """For the ack path: False only when the message surely names no threat (True while
        the names are being indexed: the listener then looks, with ``find``)."""
        spotter = self._current()
        return True if spotter is None else bool(spotter.find(message, limit=1))

    def find(self, message: str, limit: int = MAX_THREAT_CARDS) -> list[str]:
        """The threats ``message`` names (waiting for the index on first use); none when the
        names cannot be read (no card beats a failed message)."""
        spotter = self._current()
        if spotter is None:
            try:
                spotter = self._build()
            except Exception:
                log.exception("could not index the threat names for incident cards")
                return []
        return spotter.find(message, limit)
