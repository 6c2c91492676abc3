"""The resolver's working state: the question's text, blanked as each stage consumes it, and
what has been found so far (with the helpers every stage uses to record a find).

The stages live in ``scan`` (IDs, URLs, steering words) and ``names`` (names in what is left);
``resolver`` puts them together and makes the ``Resolution``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.labels import framework_label
from bot.resolve import ids as idre
from bot.resolve import threats as threatre
from bot.resolve.index import ATTACK_OBJECT_KINDS, Entry, ResolverIndex, name_tokens
from bot.resolve.text import clean


@dataclass
class Slot:
    token: str
    cands: tuple[tuple[int, float], ...]
    weight: float  # IDF of the best vocabulary match, times its similarity
    rarity: float = 0.0  # that match's IDF relative to the rarest word's


@dataclass
class Match:
    entry: int
    score: float
    name_cov: float
    used: frozenset[int]
    length: int = 0  # tokens in the matched name: on a tie the shorter, more general name wins
    eligible: bool = True  # may be the answer, not only a "did you mean"
    q_cov: float = 0.0  # share of the question's weight the name explains


@dataclass
class Found:
    techniques: dict[str, tuple[float, str | None, str]] = field(
        default_factory=dict
    )  # id → score, note, name
    capabilities: dict[tuple[str, str], tuple[float, str | None, str]] = field(default_factory=dict)
    groups: dict[tuple[str, str], tuple[float, str]] = field(default_factory=dict)
    threats: dict[str, tuple[float, str | None, str, str]] = field(
        default_factory=dict
    )  # score, note, name, kind
    objects: dict[str, tuple[float, str, str, str]] = field(
        default_factory=dict
    )  # tactic / mitigation ID → score, name, kind, domain
    detection: bool = False  # the text asks how to detect something
    frameworks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    attack_version: str | None = None
    framework_version: str | None = None
    domain: str | None = None
    categories: list[str] = field(default_factory=list)
    min_score: str | None = None
    compare: bool = False
    group_words: bool = False


def missing_technique_note(attack_id: str) -> str:
    return f"{attack_id} does not exist in the loaded ATT&CK data or any mapping file"


class ResolverState:
    def __init__(self, index: ResolverIndex, query: str) -> None:
        self.ix = index
        self.query = query
        self.text = clean(query)
        self.buf = list(self.text)
        self._joined = self.text
        self._dirty = False
        self.st = Found()
        self._nouns: list[tuple[str, str]] = []
        self._slot_list: list[Slot] = []
        self._ranked: list[Match] = []
        self._accepted: list[Match] = []
        self._by_id = False

    # ------------------------------------------------------------------ helpers

    def _cur(self) -> str:
        if self._dirty:
            self._joined = "".join(self.buf)
            self._dirty = False
        return self._joined

    def _low(self) -> str:
        """The text lower-cased, character for character (positions stay valid)."""
        cur = self._cur()
        low = cur.lower()
        if len(low) != len(cur):  # "İ" lower-cases to two characters
            low = cur.encode("ascii", "replace").decode("ascii").lower()
        return low

    def _blank(self, start: int, end: int) -> None:
        self.buf[start:end] = " " * (end - start)
        self._dirty = True

    def _tech(self, attack_id: str, note: str | None = None) -> None:
        e = self.ix.technique(attack_id)
        if e is None:
            # Neither the loaded ATT&CK nor any mapping file knows it: never answer for another
            # ID in its place (T1048.009 is not T1048); say so and offer the nearest.
            self.st.techniques.setdefault(attack_id, (100.0, note or missing_technique_note(attack_id), ""))
            return
        self._add_tech(e, 100.0, note)

    def _add_tech(self, e: Entry, score: float, note: str | None = None) -> None:
        if e.id not in self.st.techniques or self.st.techniques[e.id][0] < score:
            self.st.techniques[e.id] = (score, note or e.note, e.name)

    def _add_cap(self, framework: str, cid: str, score: float, note: str | None = None) -> None:
        e = self.ix.capability(framework, cid)
        name = e.name if e else ""
        if e is None and note is None:
            note = f"{cid} is not a {framework_label(framework)} control in the loaded data"
        key = (framework, cid)
        if key not in self.st.capabilities or self.st.capabilities[key][0] < score:
            self.st.capabilities[key] = (score, note, name)

    def _add_threat(self, e: Entry, score: float, note: str | None = None) -> None:
        repl = self.ix.threat_replacement(e.id) if not e.current else None
        if repl is not None:  # a revoked group answers through the one that replaced it
            note, e = note or e.note, repl
        if e.id not in self.st.threats or self.st.threats[e.id][0] < score:
            self.st.threats[e.id] = (score, note or e.note, e.name, e.kind)

    def _threat_ids(self) -> None:
        cur = self._cur()
        for start, end, tid in threatre.threat_id_matches(cur):
            i = self.ix.threats.get(tid)
            if i is None and cur[start + 1] in idre.ID_SEPARATORS:
                continue  # "s-1000" is an ID only if it exists
            if i is not None:
                self._add_threat(self.ix.entries[i], 100.0)
            elif self.ix.threats:  # no threats loaded at all: the ID may be anything
                self.st.notes.append(f"{tid} is not in the loaded ATT&CK data")
            else:
                continue
            self._blank(start, end)

    def _add_entry(self, e: Entry, score: float) -> None:
        if e.kind == "technique":
            self._add_tech(e, score)
        elif e.kind in threatre.THREAT_KINDS:
            self._add_threat(e, score)
        elif e.kind == "capability":
            self._add_cap(e.framework or "", e.id, score)
        elif e.kind in ATTACK_OBJECT_KINDS:
            if e.id not in self.st.objects or self.st.objects[e.id][0] < score:
                self.st.objects[e.id] = (score, e.name, e.kind, e.domain)
        elif (e.framework or "", e.id) not in self.st.groups:
            self.st.groups[(e.framework or "", e.id)] = (round(score, 1), e.name)

    def _a_name(self, text: str) -> bool:
        tokens = name_tokens(text)
        return bool(tokens) and all(t in self.ix.vocab for t in tokens)

    def _attack_object_ids(self) -> None:
        """TA0010 and M1037 (typed in any of the usual ways): the tactic or mitigation, if loaded."""
        cur = self._cur()
        hints = {
            "TA": idre.TACTIC_HINT_RE.search(cur) is not None,
            "M": idre.MITIGATION_HINT_RE.search(cur) is not None,
        }
        for rx, prefix in ((idre.TACTIC_ID_RE, "TA"), (idre.MITIGATION_ID_RE, "M")):
            if not hints[prefix]:
                continue
            for m in rx.finditer(cur):
                i = self.ix.attack_objects.get(f"{prefix}{m.group(1)}")
                if i is not None:
                    self._add_entry(self.ix.entries[i], 100.0)
                    self._blank(m.start(), m.end())
                elif prefix == "TA" and not self._a_name(m.group(0)):
                    # a tactic ID the data lacks is never read as a name, unless some name is
                    # spelled so: the group TA2541 (G1018)
                    self._blank(m.start(), m.end())
            cur = self._cur()

    def _framework(self, key: str) -> None:
        if key not in self.st.frameworks:
            self.st.frameworks.append(key)
