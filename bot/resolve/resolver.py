"""Text → Resolution: IDs first, then the words that steer (frameworks, filters, intent),
then names in what is left.

Every stage blanks the characters it consumed, so "aws controls for credential dumping"
becomes framework ``aws`` plus the name query "credential dumping", and an ID's digits are
never matched again as a name.  Pure: no I/O, and no exception escapes ``resolve``.
"""

from __future__ import annotations

import heapq
import logging
import re
from dataclasses import dataclass, field

from bot.resolution import CapabilityHit, GroupHit, Intent, Resolution, TechniqueHit, ThreatHit, ThreatKind
from bot.resolve import fusion, vocab
from bot.resolve import ids as idre
from bot.resolve import threats as threatre
from bot.resolve.index import SOFT_STEMS, Entry, ResolverIndex
from bot.resolve.text import (
    MAX_INPUT_CHARS,
    MAX_NAME_CHARS,
    SOFT_WEIGHT,
    STOP_WORDS,
    clean,
    fold,
    stem,
    words,
)
from store.ids import canonical_capability_id, nearest_technique_ids
from store.views import Alternative, Filters

log = logging.getLogger(__name__)

INTERNAL_ERROR_NOTE = "Sorry, I could not read that question."
SCAN_CHARS = 300  # steering words, control IDs and names are looked for in this much text
MAX_SLOTS = 24  # content words considered for names; questions are short, pastes are not
MAX_FUZZY = 8  # unknown words looked up approximately per question (typos are few; noise is not)
ACCEPT = 58.0  # lowest score a name match needs to count as an answer
ACCEPT_MORE = 66.0  # ... and to be a second/third entity next to the first
CLEAR_LEAD = 7.0  # a best guess this far ahead of the next needs no "did you mean"
CONFIDENT = 78.0
MAX_ALTERNATIVES = 5
NAME_SCORE_MAX = 99.0  # 100 is kept for IDs typed exactly
SHORTLIST = 50  # name variants scored exactly per question
SPECIFIC = 0.55  # rarity a second or third entity's own words need
HALF = 0.55  # a common word must cover more than half of a name (by weight) to name it
RARE = 0.88  # IDF relative to the rarest word: a word in at most two or three names


@dataclass
class _Slot:
    token: str
    cands: tuple[tuple[int, float], ...]
    weight: float  # IDF of the best vocabulary match, times its similarity
    rarity: float = 0.0  # that match's IDF relative to the rarest word's


@dataclass
class _Match:
    entry: int
    score: float
    name_cov: float
    used: frozenset[int]
    length: int = 0  # tokens in the matched name: on a tie the shorter, more general name wins
    eligible: bool = True  # may be the answer, not only a "did you mean"
    q_cov: float = 0.0  # share of the question's weight the name explains


@dataclass
class _State:
    techniques: dict[str, tuple[float, str | None, str]] = field(
        default_factory=dict
    )  # id → score, note, name
    capabilities: dict[tuple[str, str], tuple[float, str | None, str]] = field(default_factory=dict)
    groups: dict[tuple[str, str], tuple[float, str]] = field(default_factory=dict)
    threats: dict[str, tuple[float, str | None, str, str]] = field(
        default_factory=dict
    )  # score, note, name, kind
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


def resolve(index: ResolverIndex, text: str) -> Resolution:
    """Understand one question.  Never raises: on an internal error the answer is "unknown"."""
    query = text if isinstance(text, str) else ("" if text is None else str(text))
    query = query.strip()[:MAX_INPUT_CHARS]
    try:
        return _Resolver(index, query).run()
    except Exception:  # pragma: no cover - defensive: a bad question must never crash a listener
        log.exception("resolver failed on %r", query[:200])
        return Resolution(query=query, intent="unknown", notes=(INTERNAL_ERROR_NOTE,))


class _Resolver:
    def __init__(self, index: ResolverIndex, query: str) -> None:
        self.ix = index
        self.query = query
        self.text = clean(query)
        self.buf = list(self.text)
        self._joined = self.text
        self._dirty = False
        self.st = _State()
        self._nouns: list[tuple[str, str]] = []
        self._slot_list: list[_Slot] = []
        self._ranked: list[_Match] = []
        self._accepted: list[_Match] = []
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
            note = f"{cid} is not in the loaded {framework} mappings"
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
        for start, end, tid in threatre.threat_id_matches(self._cur()):
            i = self.ix.threats.get(tid)
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
        elif (e.framework or "", e.id) not in self.st.groups:
            self.st.groups[(e.framework or "", e.id)] = (round(score, 1), e.name)

    def _framework(self, key: str) -> None:
        if key not in self.st.frameworks:
            self.st.frameworks.append(key)

    # ------------------------------------------------------------------ stages

    def run(self) -> Resolution:
        if self.text:
            self._urls()
            self._ids()
            self._steering()
            matches = self._names()
        else:
            matches = []
        return self._finish(matches)

    def _urls(self) -> None:
        for m in idre.URL_RE.finditer(self._cur()):
            facts = idre.read_url(m.group(0))
            if facts.technique:
                self._tech(facts.technique)
            if facts.framework:
                self._framework(facts.framework)
                if facts.capability:
                    cid = canonical_capability_id(facts.framework, facts.capability.replace("%20", " "))
                    group = self.ix.groups.get((facts.framework, cid)) or self.ix.groups.get(
                        (facts.framework, facts.capability)
                    )
                    if self.ix.capability(facts.framework, cid) is None and group is not None:
                        self._add_entry(self.ix.entries[group], 100.0)  # a family page: .../nist-rev5/AC/
                    else:
                        self._add_cap(facts.framework, cid, 100.0)
            if facts.attack_version and not self.st.attack_version:
                self.st.attack_version = facts.attack_version
            if facts.framework_version and not self.st.framework_version:
                self.st.framework_version = facts.framework_version
            self._blank(m.start(), m.end())

    def _ids(self) -> None:
        ix = self.ix
        cur = self._cur()
        for m in idre.CVE_RE.finditer(cur) if "cve" in cur.lower() else ():
            self._add_cap("kev", f"CVE-{m.group(1)}-{m.group(2)}", 100.0)
            self._blank(m.start(), m.end())
        cur = self._cur()
        low = cur.lower()
        finders = []
        if "tech" in low or "ttp" in low:
            finders.append(idre.TECHNIQUE_WORD_RE)
        if idre.TECHNIQUE_HINT_RE.search(cur):  # the full pattern's look-behind is slow on long text
            finders.append(idre.TECHNIQUE_RE)
        for rx in finders:
            for m in rx.finditer(cur):
                self._tech(idre.technique_id(m.group(1), m.group(2)))
                self._blank(m.start(), m.end())
            cur = self._cur()
        for m in idre.TACTIC_ID_RE.finditer(cur) if idre.TACTIC_HINT_RE.search(cur) else ():
            self._blank(m.start(), m.end())
        self._threat_ids()
        # Technique IDs and CVEs are found anywhere in a long paste; everything else only in
        # its first part, which bounds the work a 4,000-character message can cause.
        if len(self.buf) > SCAN_CHARS:
            self.buf = self.buf[:SCAN_CHARS]
            self._dirty = True
        cur = self._cur()
        for m in idre.CSA_RE.finditer(cur):
            self._add_cap("csa_ccm", canonical_capability_id("csa_ccm", f"{m.group(1)}-{m.group(2)}"), 100.0)
            self._blank(m.start(), m.end())
        cur = self._cur()
        for m in idre.CRI_RE.finditer(cur):
            fn, cat, sub, diag = m.groups()
            group = f"{fn}.{cat}".upper()
            if sub is None:
                gi = ix.groups.get(("cri_profile", group))
                if gi is not None:
                    self._add_entry(ix.entries[gi], 100.0)
                    self._blank(m.start(), m.end())
                continue
            cid = canonical_capability_id("cri_profile", f"{group}-{sub}" + (f".{diag}" if diag else ""))
            if ix.capability("cri_profile", cid) is None and diag is None:
                # "PR.DS-01" names a subcategory: its first diagnostic statement is the nearest
                first = [
                    k[1] for k in ix.capabilities if k[0] == "cri_profile" and k[1].startswith(cid + ".")
                ]
                if first:
                    self._add_cap(
                        "cri_profile", min(first), 100.0, f"{cid} is a subcategory; showing {min(first)}"
                    )
                    self._blank(m.start(), m.end())
                    continue
            self._add_cap("cri_profile", cid, 100.0)
            self._blank(m.start(), m.end())
        cur = self._cur()
        for start, end, base, enhancement, strong in idre.nist_matches(cur):
            typed = self.text[start:end].strip()
            if ix.capability("nist_800_53", base) is None and not strong:
                continue
            note = f"{typed} is an enhancement; showing {base}" if enhancement else None
            self._add_cap("nist_800_53", base, 100.0, note)
            self._blank(start, end)
        cur = self._cur()
        for m in idre.M365_RE.finditer(cur):
            full = fold(m.group(0))
            hits = ix.ids.get(full) if m.group(3) else ix.m365_bases.get(full)
            if hits:
                for i in hits[:2]:
                    self._add_entry(ix.entries[i], 100.0)
                self._blank(m.start(), m.end())
        cur = self._cur()
        if idre.VERIS_START_RE.search(cur):
            self._veris(cur)
            cur = self._cur()
        for m in idre.ID_TOKEN_RE.finditer(cur):
            hits = ix.ids.get(fold(m.group(1)))
            if hits:
                for i in hits[:3]:
                    self._add_entry(ix.entries[i], 100.0)
                self._blank(m.start(), m.end())

    def _veris(self, cur: str) -> None:
        low = cur.lower()
        if len(low) != len(cur):  # a few characters lower-case to two; keep positions aligned
            low = cur.encode("ascii", "replace").decode("ascii").lower()
        for m in idre.VERIS_START_RE.finditer(low):
            pos = m.start()
            if low[pos] == " ":
                continue
            for path, i in self.ix.veris_paths:
                end = pos + len(path)
                if low.startswith(path, pos) and (
                    end == len(low) or not (low[end].isalnum() or low[end] in "_.")
                ):
                    self._add_entry(self.ix.entries[i], 100.0)
                    self._blank(pos, end)
                    low = low[:pos] + " " * (end - pos) + low[end:]
                    break

    def _steering(self) -> None:
        st = self.st
        for start, end, version in vocab.attack_version_spans(self._low()):
            st.attack_version = st.attack_version or version
            self._blank(start, end)
        for start, end, rev in vocab.nist_revision_spans(self._low()):
            st.framework_version = st.framework_version or rev
            self._framework("nist_800_53")
            self._blank(start, end)
        for start, end, version in vocab.framework_version_spans(self._low()):
            st.framework_version = st.framework_version or version
            self._blank(start, end)
        for start, end, key in vocab.framework_spans(self._low()):
            self._framework(key)
            self._blank(start, end)
        for start, end, domain in vocab.domain_spans(self._low()):
            st.domain = st.domain or domain
            if domain != "mobile":
                self._blank(start, end)
        # On the text as typed: "detect T1048" asks how to detect it, "T1048 detect" filters.
        typed = self.text.lower() if len(self.text.lower()) == len(self.text) else self._low()
        for start, end in threatre.detection_spans(typed):
            st.detection = True
            if "detect" not in st.categories:  # a technique answer asked this way shows detections
                st.categories.append("detect")
            self._blank(start, end)
        for start, end, value in vocab.min_score_spans(self._low()):
            st.min_score = st.min_score or value
            self._blank(start, end)
        for start, end, category, is_verb in vocab.category_spans(self._low()):
            if is_verb:
                if category not in st.categories:
                    st.categories.append(category)
                self._blank(start, end)
            else:  # "protection" may be part of a name ("Boundary Protection"): decided later
                self._nouns.append((category, stem(fold(self.text[start:end]))))
        for start, end in vocab.compare_spans(self._low()):
            st.compare = True
            self._blank(start, end)
        self._families()
        if st.frameworks:
            self._framework_ids()

    def _framework_ids(self) -> None:
        """Plain-word IDs ("eop", "xss", "firewalls") count once their framework is named."""
        for m in idre.WORD_RE.finditer(self._cur()):
            for i in self.ix.ids.get(m.group(0).lower(), ()):
                if self.ix.entries[i].framework in self.st.frameworks:
                    self._add_entry(self.ix.entries[i], 100.0)
                    self._blank(m.start(), m.end())

    def _families(self) -> None:
        """Bare NIST family codes: "SC", "sc family", or a question that is only "ac"."""
        cur = self._cur()
        content = [w for w in words(cur) if w not in STOP_WORDS]
        groupish = any(w in vocab.GROUP_WORDS for w in content)
        for m in idre.TWO_LETTERS_RE.finditer(cur):
            code = m.group(0)
            before = cur[m.start() - 1] if m.start() else " "
            after = cur[m.end()] if m.end() < len(cur) else " "
            if before in ".&-/" or after in "&-.(":
                continue
            if code.upper() not in self.ix.nist_families:
                continue
            alone = [w for w in content if w not in vocab.GROUP_WORDS] == [code.lower()]
            if code.isupper() or groupish or alone:
                gi = self.ix.groups.get(("nist_800_53", code.upper()))
                if gi is not None:
                    self._add_entry(self.ix.entries[gi], 100.0)
                    self._blank(m.start(), m.end())
        if any(w in vocab.FAMILY_WORDS for w in content):
            self.st.group_words = True

    # ------------------------------------------------------------------ names

    def _slots(self) -> tuple[list[_Slot], list[str]]:
        ix = self.ix
        raw = words(self._cur()[:MAX_NAME_CHARS])
        plain = [
            w
            for w in raw
            if w not in STOP_WORDS and w not in vocab.FAMILY_WORDS and w not in vocab.FRAMEWORK_WORDS
        ]
        expanded: list[str] = []
        written: dict[str, str] = {}  # stem → the word as typed, for typos the stemmer mangled
        for w in plain[: MAX_SLOTS * 2]:
            sw = stem(w)
            if sw != w and sw not in ix.abbreviations:
                written.setdefault(sw, w)
            expanded.extend(ix.abbreviations.get(sw, (sw,)))
        expanded = list(dict.fromkeys(expanded))[:MAX_SLOTS]
        # Two words that together make one known word ("power shell", "side loading") are one.
        toks: list[str] = []
        i = 0
        while i < len(expanded):
            w = expanded[i]
            if (
                i + 1 < len(expanded)
                and stem(w + expanded[i + 1]) in ix.vocab
                and (w, expanded[i + 1]) not in ix.bigrams  # "hash cracking" is already two words
            ):
                toks.append(stem(w + expanded[i + 1]))
                i += 2
                continue
            split = ix.split_compound(w) if w not in ix.vocab else None
            toks.extend(split or (w,))  # "bruteforce" → brute force, as names write it
            i += 1
        slots = []
        fuzzy_left = MAX_FUZZY
        for t in toks:
            if t in ix.vocab or ix.is_cached(t):
                cands = ix.match_token(t)
            elif fuzzy_left > 0 and sum(c.isalpha() for c in t) >= 3:
                fuzzy_left -= 1
                cands = ix.match_token(t)
                typed = written.get(t)
                if typed and (not cands or cands[0][1] < 1.0):
                    # "phshing" stems to "phsh", too far from anything; as typed it is one edit
                    # from "phishing"
                    merged: dict[int, float] = dict(cands)
                    for tid, sim in ix.match_token(typed):
                        merged[tid] = max(merged.get(tid, 0.0), sim)
                    cands = tuple(sorted(merged.items(), key=lambda kv: -kv[1]))
            else:
                cands = ()
            # the word itself when known, else its best approximate match
            best = (
                cands[0]
                if cands and cands[0][1] >= 1.0
                else max(cands, key=lambda c: ix.idf[c[0]] * c[1], default=None)
            )
            if best is None:
                slots.append(_Slot(t, cands, ix.default_weight))
            else:
                soft = SOFT_WEIGHT if t in SOFT_STEMS else 1.0
                slots.append(_Slot(t, cands, ix.idf[best[0]] * best[1] * soft, ix.idf[best[0]] / ix.max_idf))
        return slots, raw

    def _score(self, slots: list[_Slot], active: set[int]) -> dict[int, _Match]:
        ix = self.ix
        hits: dict[int, list[tuple[int, float]]] = {}
        for s in active:
            for tid, sim in slots[s].cands:
                hits.setdefault(tid, []).append((s, sim))
        total_q = sum(slots[s].weight for s in active) or 1.0
        touched = self._shortlist(hits, total_q)
        best: dict[int, _Match] = {}
        tactics = self._tactics_named(slots, active)
        platforms = {ix.platform_words[slots[s].token] for s in active if slots[s].token in ix.platform_words}
        best_pair = {tid: max(pairs, key=lambda p: p[1]) for tid, pairs in hits.items()}
        weights = [slots[s].weight for s in range(len(slots))]
        for vid in touched:
            v = ix.variants[vid]
            matched = 0.0
            used: dict[int, float] = {}
            for t, w in zip(v.tids, v.weights, strict=True):
                pair = best_pair.get(t)
                if pair is None:
                    continue
                s, sim = pair
                matched += w * sim
                if used.get(s, 0.0) < sim:
                    used[s] = sim
            name_cov = matched / v.total if v.total else 0.0
            if v.alias and name_cov < 0.95:
                continue
            got = sum(weights[s] * sim for s, sim in used.items())
            q_cov = got / total_q
            eligible = True
            if not v.alias and got:
                # A rare word that the whole question consists of ("moveit", "log4j") names its
                # entity even when the full name is much longer.  A commoner one ("fortinet",
                # "kerberos") only makes it a candidate worth offering, unless it covers half the name.
                rarity = (
                    max(slots[s].rarity for s, sim in used.items() if sim >= 0.9)
                    if max(used.values()) >= 0.9
                    else 0.0
                )
                if rarity >= RARE:
                    name_cov = max(name_cov, 0.85 * q_cov)
                elif name_cov < HALF:
                    eligible = False
                    name_cov = max(name_cov, 0.55 * rarity * q_cov)
            e = ix.entries[v.entry]
            score = 100.0 * (name_cov**0.6) * (min(q_cov, 1.0) ** 0.4) * v.prior * e.prior
            score *= self._context(e, tactics, platforms)
            prev = best.get(v.entry)
            if prev is None or score > prev.score:
                best[v.entry] = _Match(
                    v.entry, score, name_cov, frozenset(used), len(v.tids), eligible, min(q_cov, 1.0)
                )
        return best

    def _shortlist(self, hits: dict[int, list[tuple[int, float]]], total_q: float) -> list[int]:
        """The name variants worth scoring exactly: a cheap bound from posting lists first.

        Common words ("data", "system") touch hundreds of names; their matched weight alone
        ranks them well enough to keep only the best ``SHORTLIST`` for the exact score.
        """
        ix = self.ix
        acc: dict[int, float] = {}
        rare: set[int] = set()
        for tid, pairs in hits.items():
            w = ix.idf[tid] * max(p[1] for p in pairs)
            is_rare = ix.idf[tid] / ix.max_idf >= RARE
            for vid in ix.postings[tid]:
                acc[vid] = acc.get(vid, 0.0) + w
                if is_rare:
                    rare.add(vid)
        if len(acc) <= SHORTLIST:
            return list(acc)
        variants = ix.variants
        bound = {
            vid: (
                max(a / variants[vid].total, 0.85 * a / total_q) if vid in rare else a / variants[vid].total
            )
            ** 0.6
            * a
            * variants[vid].prior
            for vid, a in acc.items()
        }
        return heapq.nlargest(SHORTLIST, bound, key=bound.__getitem__)

    def _tactics_named(self, slots: list[_Slot], active: set[int]) -> set[str]:
        present = {slots[s].token for s in active}
        return {short for toks, short in self.ix.tactic_names if all(t in present for t in toks)}

    def _context(self, e: Entry, tactics: set[str], platforms: set[str]) -> float:
        st = self.st
        factor = 1.0
        if e.kind == "technique":
            if st.domain and st.domain != "enterprise":
                factor *= 1.05 if e.domain == st.domain else 0.9
            elif e.domain != "enterprise":
                factor *= 0.96
            if tactics and e.tactics & tactics:
                factor *= 1.04
            if platforms and e.platforms & platforms:
                factor *= 1.03
            if st.group_words:
                factor *= 0.9
        elif e.kind in threatre.THREAT_KINDS:
            if st.domain and e.domain != st.domain:
                factor *= 0.95
        else:
            if st.frameworks:
                factor *= 1.06 if e.framework in st.frameworks else 0.8
            if e.kind == "group" and st.group_words:
                factor *= 1.12
        return factor

    def _names(self) -> list[_Match]:
        slots, _ = self._slots()
        self._slot_list = slots
        if not slots:
            return []
        active = set(range(len(slots)))
        # A match made only of filter nouns ("detection") or soft words ("controls") names nothing.
        nouns = {token for _, token in self._nouns} | SOFT_STEMS
        scored = self._score(slots, active)
        if not (self.st.techniques or self.st.capabilities or self.st.groups or self.st.threats):
            self._fuse_text(slots, active, scored, nouns)
        ranked = [
            m
            for m in sorted(scored.values(), key=self._order)
            if any(slots[u].token not in nouns for u in m.used)
        ]
        if not ranked:
            return []
        self._ranked = ranked
        accepted: list[_Match] = []
        top = ranked[0]
        # Next to an ID the leftover words are usually context ("detection", "logs"), so a
        # name then has to be as convincing as a second entity.
        by_id = self._by_id = bool(
            self.st.techniques or self.st.capabilities or self.st.groups or self.st.threats
        )
        if by_id:
            # "spearphishing attachment T1193": the name restates the ID, it is not a second entity
            typed = {fold(name) for _, _, name in self.st.techniques.values()}
            typed |= {fold(t[2]) for t in self.st.threats.values()}
            ranked = [m for m in ranked if fold(self.ix.entries[m.entry].name) not in typed]
            if not ranked:
                return []
            top = ranked[0]
        if (
            top.eligible
            and top.score >= (ACCEPT_MORE if by_id else ACCEPT)
            and (not by_id or top.name_cov >= 0.75)
        ):
            accepted.append(top)
            remaining = active - top.used
            while remaining and len(accepted) < 3:
                weight_left = sum(slots[s].weight for s in remaining if slots[s].cands)
                if weight_left < 0.25 * sum(slots[s].weight for s in active):
                    break
                again = sorted(self._score(slots, remaining).values(), key=self._order)
                again = [
                    m
                    for m in again
                    if all(m.entry != a.entry for a in accepted)
                    and any(slots[u].token not in nouns for u in m.used)
                ]
                if (
                    not again
                    or not again[0].eligible
                    or again[0].score < ACCEPT_MORE
                    or again[0].name_cov < 0.75
                ):
                    # "safe links vs spearphishing link": the two names share a word, which the
                    # first took; a second name matched whole may share it
                    shared = self._sharing(slots, active, remaining, accepted, nouns)
                    if shared is None:
                        break
                    again = [shared]
                accepted.append(again[0])
                remaining -= again[0].used
        for m in accepted:
            self._add_entry(self.ix.entries[m.entry], min(m.score, NAME_SCORE_MAX))
        self._accepted = accepted
        return ranked

    def _sharing(
        self,
        slots: list[_Slot],
        active: set[int],
        remaining: set[int],
        accepted: list[_Match],
        nouns: set[str],
    ) -> _Match | None:
        """A further entity whose whole name is in the question, sharing words with those taken."""
        taken = {a.entry for a in accepted}
        for m in sorted(self._score(slots, active).values(), key=self._order):
            if m.score < ACCEPT_MORE:
                return None
            if (
                m.entry not in taken
                and m.eligible
                and m.name_cov >= 0.95
                and any(u in remaining and slots[u].token not in nouns for u in m.used)
                and self.ix.entries[m.entry].kind != self.ix.entries[accepted[0].entry].kind
            ):
                return m
        return None

    def _fuse_text(
        self, slots: list[_Slot], active: set[int], scored: dict[int, _Match], skip: set[str]
    ) -> None:
        """Techniques whose ATT&CK text explains the question join (or move up in) ``scored``."""
        ix = self.ix
        terms = fusion.query_terms(ix, [(s, slots[s].token, slots[s].cands) for s in sorted(active)], skip)
        if not terms:
            return
        tactics = self._tactics_named(slots, active)
        platforms = {ix.platform_words[slots[s].token] for s in active if slots[s].token in ix.platform_words}
        question = {slots[s].token for s in active}
        context = lambda i: self._context(ix.entries[i], tactics, platforms)  # noqa: E731
        for f in fusion.fuse(ix, terms, scored, context, question):
            prev = scored.get(f.entry)
            length = prev.length if prev is not None else len(ix.entries[f.entry].name.split())
            name_cov = prev.name_cov if prev is not None else 0.0
            q_cov = max(prev.q_cov, f.text) if prev is not None else f.text
            scored[f.entry] = _Match(f.entry, f.score, name_cov, f.used, length, f.eligible, q_cov)

    def _order(self, m: _Match) -> tuple[float, int, int, int, int, int, str]:
        e = self.ix.entries[m.entry]
        kind = _KIND_ORDER.get(e.kind, 9)
        depth = self.ix.revocation_depth.get(e.id, 0) if e.kind == "technique" else 0
        return (-round(m.score, 1), 0 if e.current else 1, depth, kind, m.length, len(e.name), e.id)

    # ------------------------------------------------------------------ result

    def _threat_hits(self) -> tuple[ThreatHit, ...]:
        ix = self.ix
        hits = []
        for tid, (score, note, name, kind) in sorted(self.st.threats.items(), key=lambda kv: -kv[1][0]):
            i = ix.threats.get(tid)
            shadow = ix.shadows.get(i) if i is not None else None
            kind_: ThreatKind = kind  # type: ignore[assignment]
            hits.append(ThreatHit(tid, name, kind_, score, note, shadow))
        return tuple(hits)

    def _finish(self, ranked: list[_Match]) -> Resolution:
        st = self.st
        techniques = tuple(
            TechniqueHit(
                id=tid,
                name=name,
                score=score,
                domain=(self.ix.technique(tid).domain if self.ix.technique(tid) else "enterprise"),  # type: ignore[union-attr]
                note=note,
                known=self.ix.technique(tid) is not None,
            )
            for tid, (score, note, name) in sorted(st.techniques.items(), key=lambda kv: -kv[1][0])
        )
        capabilities = tuple(
            CapabilityHit(framework=fw, id=cid, name=name, score=score, note=note)
            for (fw, cid), (score, note, name) in sorted(st.capabilities.items(), key=lambda kv: -kv[1][0])
        )
        groups = tuple(
            GroupHit(framework=fw, id=gid, name=name, score=score)
            for (fw, gid), (score, name) in sorted(st.groups.items(), key=lambda kv: -kv[1][0])
        )
        threats = self._threat_hits()
        used_tokens = {self._slot_list[u].token for m in self._accepted for u in m.used}
        for category, token in self._nouns:
            if token not in used_tokens and category not in st.categories:
                st.categories.append(category)
        notes = [
            n
            for n in (
                *st.notes,
                *(t.note for t in techniques),
                *(c.note for c in capabilities),
                *(t.note for t in threats),
            )
            if n
        ]
        alternatives = self._alternatives(ranked, techniques, capabilities, groups or threats)
        intent = self._intent(techniques, capabilities, groups, threats)
        missing = [t.id for t in techniques if not t.known]
        if missing and len(missing) == len(techniques) and not capabilities and not groups and not threats:
            intent = "unknown"  # only IDs that do not exist: a "did you mean", never an empty answer
            alternatives = tuple(
                self._alternative(self.ix.entries[self.ix.techniques[tid]], 100.0)
                for tid in nearest_technique_ids(self.ix.techniques, missing[0])
            )
        if intent == "help":
            alternatives = ()
        if intent == "unknown" and not alternatives and self.text:
            notes.append("Nothing recognised: try a technique ID (T1048), a control (SC-07) or a name.")
        filters = Filters(
            framework_version=st.framework_version,
            attack_version=st.attack_version,
            domain=st.domain,
            categories=tuple(c for c in ("protect", "detect", "respond") if c in st.categories),
            min_score=st.min_score,
        )
        return Resolution(
            query=self.query,
            intent=intent,
            techniques=techniques,
            capabilities=capabilities,
            frameworks=tuple(st.frameworks),
            groups=groups,
            threats=threats,
            filters=filters,
            alternatives=alternatives,
            notes=tuple(dict.fromkeys(notes)),
        )

    def _intent(
        self,
        techniques: tuple[TechniqueHit, ...],
        capabilities: tuple[CapabilityHit, ...],
        groups: tuple[GroupHit, ...],
        threats: tuple[ThreatHit, ...] = (),
    ) -> Intent:
        st = self.st
        if techniques and capabilities:
            return "pair"
        if threats and not capabilities and (not techniques or threats[0].score > techniques[0].score):
            return threats[0].kind
        if techniques and st.detection:
            return "detection"
        if techniques:
            if len(techniques) == 1 and st.compare:  # named frameworks alone mean "answer in these"
                return "compare"
            return "technique"
        if capabilities:
            return "cve" if capabilities[0].framework == "kev" else "capability"
        if groups:
            return "family"
        if st.notes:  # an ID typed that the data does not hold ("G9999"): not a request for help
            return "unknown"
        content = [w for w in words(self._cur()) if w not in STOP_WORDS]
        asked_help = any(w in vocab.HELP_WORDS for w in words(self.text[:SCAN_CHARS])) or self.text in (
            "?",
            "",
        )
        if asked_help and all(w in vocab.HELP_WORDS for w in content):
            return "help"
        if not self.text.strip():
            return "help"
        if not st.frameworks and all(w in vocab.HELP_WORDS or w in vocab.HELP_FILLER for w in content):
            return "help"  # "what can you do?", "how does this work": nothing but question words
        if st.frameworks and not self._ranked:
            return "framework"
        if st.frameworks and not [w for w in content if w not in vocab.HELP_WORDS]:
            return "framework"
        return "unknown"

    def _alternatives(
        self,
        ranked: list[_Match],
        techniques: tuple[TechniqueHit, ...],
        capabilities: tuple[CapabilityHit, ...],
        groups: tuple[GroupHit | ThreatHit, ...],
    ) -> tuple[Alternative, ...]:
        if not ranked:
            return ()
        accepted = self._accepted
        chosen = {m.entry for m in accepted}
        others = [m for m in ranked if m.entry not in chosen]
        if self.st.threats:  # a revoked group whose replacement is the answer is no alternative
            others = [m for m in others if self._replaced_id(m.entry) not in self.st.threats]
        if not others:
            return ()
        if self._by_id:
            return ()  # an ID was typed: the question is not in doubt
        if accepted:
            top = accepted[0].score
            if top >= CONFIDENT and others[0].score < top - CLEAR_LEAD:
                return ()
            floor = max(ACCEPT - 20, top - 25)
        else:
            if techniques or capabilities or groups:
                return ()
            floor = 45.0
        out: list[Alternative] = []
        for m in others:
            if m.score < floor or len(out) >= MAX_ALTERNATIVES:
                break
            out.append(self._alternative(self.ix.entries[m.entry], min(m.score, NAME_SCORE_MAX)))
        return tuple(out)

    def _replaced_id(self, entry: int) -> str | None:
        e = self.ix.entries[entry]
        repl = self.ix.threat_replacement(e.id) if e.kind in threatre.THREAT_KINDS else None
        return repl.id if repl is not None else None

    def _alternative(self, e: Entry, score: float) -> Alternative:
        if e.kind == "technique":
            return Alternative("technique", e.id, f"{e.id} {e.name}", round(score, 1), None, e.id)
        if e.kind == "capability":
            label = e.id if e.name == e.id else f"{e.id} {e.name}"
            return Alternative("capability", e.id, label, round(score, 1), e.framework, alternative_query(e))
        if e.kind in threatre.THREAT_KINDS:
            return Alternative("threat", e.id, f"{e.id} {e.name}", round(score, 1), None, e.id)
        return Alternative("group", e.id, e.name, round(score, 1), e.framework, alternative_query(e))


_KIND_ORDER = {"technique": 0, "capability": 1, "group": 2, **threatre.KIND_ORDER}


def missing_technique_note(attack_id: str) -> str:
    return f"{attack_id} does not exist in the loaded ATT&CK data or any mapping file"


def alternative_query(e: Entry) -> str:
    """Text that resolves to exactly ``e`` (the value behind a "did you mean" button)."""
    if e.kind == "technique" or e.kind in threatre.THREAT_KINDS:
        return e.id
    if e.kind == "group" and e.framework == "nist_800_53":
        return f"{e.id} family"
    if re.search(r"[-_.&\d]", e.id):
        return e.id
    # a plain word ("eop", "firewalls") is an ID only next to its framework's name
    return f"{vocab.FRAMEWORK_QUERY_WORD.get(e.framework or '', '')} {e.id}".strip()
