"""The resolver's in-memory index: every technique, capability and group, by ID and by name.

Built once from the store (a few selects, well under a second) and then read-only, so one
index can serve every thread.  Names are indexed as stemmed tokens with IDF weights; a token
→ name-variant posting list keeps matching to the handful of names that share a word with the
question instead of scoring every name.
"""

from __future__ import annotations

import bisect
import gc
import itertools
import logging
import math
import re
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import OSA
from sqlalchemy.orm import Session

from bot.resolve.aliases import DEFAULT_ALIAS_FILE, AliasSet
from bot.resolve.shortforms import PRODUCT_FRAMEWORKS, product_words, short_forms
from bot.resolve.text import SOFT_WEIGHT, SOFT_WORDS, STOP_WORDS, fold, joined_variant, stem, words
from bot.resolve.textindex import TextIndex
from bot.resolve.threats import PRIOR_SHADOWED_ALIAS, THREAT_KINDS, threat_entries
from bot.resolve.vocab import FRAMEWORK_WORDS, framework_spans
from store.ids import canonical_capability_id
from store.reads.resolver_source import IndexSource, TechniqueRow, source_from_session

log = logging.getLogger(__name__)

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
class ResolverIndex:
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
    abbreviations: dict[str, tuple[str, ...]] = field(default_factory=dict)
    revocation_depth: dict[str, int] = field(default_factory=dict)  # revoked ID → hops to a current one
    bigrams: set[tuple[str, str]] = field(default_factory=set)  # adjacent words in some name
    tactic_names: list[tuple[tuple[str, ...], str]] = field(default_factory=list)
    platform_words: dict[str, str] = field(default_factory=dict)
    replaced_by: dict[str, str] = field(default_factory=dict)  # revoked technique ID → current one
    text: TextIndex = field(default_factory=TextIndex)  # what ATT&CK writes about each technique
    default_weight: float = 3.0
    no_prefix: frozenset[str] = frozenset()  # words only threat names use: typos, never prefixes
    max_idf: float = 1.0
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

    # ------------------------------------------------------------------ building

    @classmethod
    def build(cls, session: Session, *, aliases: AliasSet | None = None) -> ResolverIndex:
        return cls.from_source(source_from_session(session), aliases=aliases)

    @classmethod
    def from_source(cls, src: IndexSource, *, aliases: AliasSet | None = None) -> ResolverIndex:
        # Tens of thousands of small tuples: the cyclic GC would rescan them for nothing.
        paused = gc.isenabled()
        gc.disable()
        try:
            return _Builder(src, aliases or AliasSet()).build()
        finally:
            if paused:
                gc.enable()

    # ------------------------------------------------------------------ lookups

    def technique(self, attack_id: str) -> Entry | None:
        i = self.techniques.get(attack_id)
        return None if i is None else self.entries[i]

    def capability(self, framework: str, capability_id: str) -> Entry | None:
        i = self.capabilities.get((framework, capability_id))
        return None if i is None else self.entries[i]

    def threat_replacement(self, attack_id: str) -> Entry | None:
        """The current threat a revoked one points to (following a chain), or None."""
        i = self.threats.get(attack_id)
        for hops in range(10):
            if i is None:
                return None
            target = self.threat_revoked_by.get(self.entries[i].id)
            if target is None:
                return self.entries[i] if hops else None
            i = self.threats.get(target)
        return None

    def match_token(self, token: str) -> tuple[tuple[int, float], ...]:
        """Vocabulary tokens a query token may stand for, with a similarity in (0, 1].

        Exact (stemmed) match first; otherwise prefixes ("exfil" → "exfiltration") and typos
        ("protocl" → "protocol").  Cached: the vocabulary never changes after build.
        """
        cached = self._token_cache.get(token)
        if cached is not None:
            return cached
        result = self._match_token(token)
        with self._lock:
            if len(self._token_cache) > 50_000:
                self._token_cache.clear()
            self._token_cache[token] = result
        return result

    def is_cached(self, token: str) -> bool:
        return token in self._token_cache

    def split_compound(self, word: str) -> tuple[str, str] | None:
        """("bruteforce") → ("brute", "force") when some name has those two words side by side."""
        if len(word) < 6 or len(word) > 40:
            return None
        for k in range(3, len(word) - 2):
            pair = (word[:k], stem(word[k:]))
            if pair in self.bigrams:
                return pair
        return None

    def _match_token(self, token: str) -> tuple[tuple[int, float], ...]:
        n = len(token)
        tid = self.vocab.get(token)
        if tid is not None and n < 5:
            return ((tid, 1.0),)
        if n < 3 or n > 40:
            return ()
        found: dict[int, float] = {} if tid is None else {tid: 1.0}
        if n >= 4 and not token.isdigit():
            lo = bisect.bisect_left(self._sorted_words, token)
            prefixed = []
            for w in self._sorted_words[lo : lo + 40]:
                if not w.startswith(token):
                    break
                if w not in self.no_prefix:
                    prefixed.append(w)
            if prefixed and len(prefixed) <= 12 and tid is None:
                for w in prefixed:
                    found[self.vocab[w]] = 0.9 if len(prefixed) <= 3 else 0.8
        if n >= 5 or (n == 4 and tid is None):
            # Optimal string alignment: one typo (a transposition included) costs one edit, and
            # "ipconfig" is not a typo of "config" as it would be under plain similarity ratios.
            # A known word only reaches near-identical ones.  (Cut-offs sit just under 4/5 and
            # 5/6: rapidfuzz compares the normalised distance, where 1/5 rounds above 0.2.)  An
            # unknown four-letter word thus reaches only five-letter words one letter longer
            # ("usrs" → "users", "shll" → "shell"), never a word of its own length.
            cutoff = 0.79 if tid is None else 0.84
            # A typo rarely changes both of the first two letters: compare only with words of a
            # similar length that share one of them, a tenth of the vocabulary.
            pool: list[str] = []
            for length in range(n - 2, n + 3):
                pool.extend(self._by_length.get((length, token[0]), ()))
                pool.extend(w for w in self._by_length.get((length, "", token[1]), ()) if w[0] != token[0])
            for w, score, _ in process.extract(
                token, pool, scorer=OSA.normalized_similarity, score_cutoff=cutoff, limit=4
            ):
                sim = 0.6 + 0.35 * max(0.0, score - 0.8) / 0.2
                for near in (w, self._surface.get(w)):  # the word, and the stem names index it by
                    tid2 = self.vocab.get(near) if near else None
                    if tid2 is not None and found.get(tid2, 0.0) < sim:
                        found[tid2] = sim
        return tuple(sorted(found.items(), key=lambda kv: -kv[1]))


class _Builder:
    def __init__(self, src: IndexSource, aliases: AliasSet) -> None:
        self.src = src
        self.aliases = aliases
        self.ix = ResolverIndex()
        self.names: list[tuple[int, str, float, bool]] = []  # entry, text, prior, alias
        self.threat_terms: dict[str, int] = {}  # folded threat name or alias → entry

    def add(self, entry: Entry) -> int:
        self.ix.entries.append(entry)
        return len(self.ix.entries) - 1

    def name(self, entry: int, text: str, prior: float = 1.0, alias: bool = False) -> None:
        # "Microsoft 365 Defender" is found as "m365 defender": framework phrases go from names as
        # they go from questions (single framework words are dropped by ``name_tokens``).
        low = text.lower()
        if len(low) == len(text):
            for start, end, _ in reversed(framework_spans(low)):
                text = text[:start] + " " + text[end:]
        if text and text.strip():
            self.names.append((entry, text, prior, alias))
            joined = joined_variant(text)
            if joined:
                self.names.append((entry, joined, prior, alias))

    def build(self) -> ResolverIndex:
        self._techniques()
        self._capabilities()
        self._groups()
        self._threats()
        self._attack_objects()
        self._short_forms()
        self._aliases()
        self._tactics()
        self._vocabulary()
        self._text()
        ix = self.ix
        ix.frameworks = frozenset(e.framework for e in ix.entries if e.framework)
        ix.veris_paths.sort(key=lambda p: -len(p[0]))
        return ix

    def _popularity(self, n: int, most: int) -> float:
        return 0.98 + 0.02 * math.log1p(n) / math.log1p(max(most, 1))

    def _techniques(self) -> None:
        ix = self.ix
        counts = self.src.technique_counts
        most = max(counts.values(), default=1)
        rows = sorted(
            self.src.techniques,
            key=lambda t: (t.revoked or t.deprecated, DOMAIN_ORDER.get(t.domain, 9), t.attack_id),
        )
        by_id: dict[str, TechniqueRow] = {}
        for t in rows:
            by_id.setdefault(t.attack_id, t)
        names = {t.attack_id: t.name for t in by_id.values()}
        for t in by_id.values():
            note = None
            prior = PRIOR_TECHNIQUE
            if t.revoked:
                prior = PRIOR_REVOKED
                repl, depth = by_id.get(t.revoked_by or ""), 1
                while repl is not None and repl.revoked and repl.revoked_by in by_id and depth < 10:
                    repl, depth = by_id[repl.revoked_by], depth + 1  # follow T1073 → T1574.002 → T1574.001
                self.ix.revocation_depth[t.attack_id] = depth
                if repl is not None:
                    self.ix.replaced_by[t.attack_id] = repl.attack_id
                note = (
                    f"{t.attack_id} was revoked; now {repl.attack_id} {repl.name}"
                    if repl
                    else f"{t.attack_id} was revoked in ATT&CK"
                )
            elif t.deprecated:
                prior = PRIOR_DEPRECATED
                note = f"{t.attack_id} is deprecated in ATT&CK"
            i = self.add(
                Entry(
                    "technique",
                    t.attack_id,
                    t.name,
                    domain=t.domain,
                    current=not (t.revoked or t.deprecated),
                    note=note,
                    tactics=frozenset(t.tactics),
                    platforms=frozenset(fold(p) for p in t.platforms),
                    prior=prior * self._popularity(counts.get(t.attack_id, 0), most),
                )
            )
            ix.techniques[t.attack_id] = i
            self.name(i, t.name)
            if t.parent_id and t.parent_id in names:
                self.name(i, f"{names[t.parent_id]} {t.name}")
        current = {(t.domain, fold(t.name)) for t in by_id.values() if not (t.revoked or t.deprecated)}
        for attack_id, name in self.src.mapped_names:
            i2 = ix.techniques.get(attack_id)
            if i2 is None:
                # mapped but unknown to the loaded ATT&CK: keep what the data says
                i2 = self.add(Entry("technique", attack_id, name, current=False, prior=PRIOR_REVOKED))
                ix.techniques[attack_id] = i2
                self.name(i2, name)
            elif fold(name) != fold(ix.entries[i2].name):
                # an older name; a current technique still called that takes precedence
                taken = (ix.entries[i2].domain, fold(name)) in current
                self.name(i2, name, PRIOR_OLD_NAME * (0.97 if taken else 1.0))

    def _capabilities(self) -> None:
        ix = self.ix
        counts = self.src.capability_counts
        most: dict[str, int] = {}
        for (framework, _), n in counts.items():
            most[framework] = max(most.get(framework, 1), n)
        for c in sorted(self.src.capabilities, key=lambda c: (c.framework, c.capability_id)):
            key = (c.framework, c.capability_id)
            if key in ix.capabilities:
                continue
            name = c.name or ""
            display = name
            prior = PRIOR_CAPABILITY
            if c.framework == "veris":
                display = c.capability_id.rsplit(".", 1)[-1]
                prior = PRIOR_CAPABILITY * PRIOR_VERIS_LEAF
            elif c.framework == "kev":
                prior = PRIOR_CAPABILITY * PRIOR_KEV_NAME
            prior *= self._popularity(counts.get(key, 0), most.get(c.framework, 1))
            i = self.add(
                Entry("capability", c.capability_id, display or c.capability_id, c.framework, prior=prior)
            )
            ix.capabilities[key] = i
            folded = fold(c.capability_id)
            ix.ids.setdefault(folded, []).append(i)
            if c.framework == "m365":
                ix.m365_bases.setdefault(folded.rsplit("-", 1)[0], []).append(i)
            if c.framework == "veris":
                ix.veris_paths.append((folded, i))
                self.name(i, display)
            else:
                self.name(i, name)
                id_words = c.capability_id.replace("_", " ").replace("-", " ")
                if c.framework in ("aws", "azure", "gcp", "intel-vpro") and set(name_tokens(id_words)) - set(
                    name_tokens(name)
                ):  # only when the ID says something the name does not ("google_threat_intel" does not)
                    self.name(i, id_words)
        for framework, cid, name in self.src.capability_names:
            i2 = ix.capabilities.get((framework, cid))
            if i2 is not None and fold(name) != fold(ix.entries[i2].name):
                self.name(i2, name, PRIOR_OLD_NAME)

    def _groups(self) -> None:
        ix = self.ix
        families = set()
        cri = set()
        for g in self.src.groups:
            key = (g.framework, g.group_id)
            if key in ix.groups or key in ix.capabilities:
                continue  # cloud frameworks: the group is the product capability itself
            i = self.add(Entry("group", g.group_id, g.name, g.framework, prior=PRIOR_GROUP))
            ix.groups[key] = i
            folded = fold(g.group_id)
            ix.ids.setdefault(folded, []).append(i)
            if g.framework == "nist_800_53":
                families.add(g.group_id.upper())
            elif g.framework == "cri_profile":
                cri.add(g.group_id.upper())
            elif g.framework == "veris":
                ix.veris_paths.append((folded, i))
            id_words = re.sub(r"[_\-.]", " ", g.group_id)
            if g.name != g.group_id:
                self.name(i, g.name)
                if g.framework not in ("nist_800_53", "cri_profile") and set(name_tokens(id_words)) - set(
                    name_tokens(g.name)
                ):  # "eop" names Exchange Online Protection too
                    self.name(i, id_words)
            elif g.framework == "kev" or "_" in g.group_id:
                self.name(i, id_words)
        ix.nist_families = frozenset(families)
        ix.cri_groups = frozenset(cri)

    def _threats(self) -> None:
        ix = self.ix
        for t in threat_entries(self.src.threats):
            i = self.add(
                Entry(
                    t.kind,
                    t.attack_id,
                    t.name,
                    domain=t.domain,
                    current=t.current,
                    note=t.note,
                    prior=t.prior,
                )
            )
            ix.threats[t.attack_id] = i
            for text, prior in t.variants:
                self.name(i, text, prior)
                self.threat_terms.setdefault(fold(text), i)
        for row in self.src.threats:
            if row.revoked and row.revoked_by:
                ix.threat_revoked_by[row.attack_id] = row.revoked_by

    def _short_forms(self) -> None:
        """Initialisms and product words of product capabilities, from their own names ("waf",
        "jit", "fim"); none that some name uses as an ordinary word."""
        # words of names as ordinary words; "VPC" or "IDS" written as an acronym does not count
        known = {
            w.lower()
            for _, text, _, _ in self.names
            for w in re.findall(r"[A-Za-z0-9]+", text)
            if not w.isupper()
        }
        for key, i in self.ix.capabilities.items():
            if key[0] not in PRODUCT_FRAMEWORKS:
                continue
            name = self.ix.entries[i].name
            for form in sorted(short_forms(name, known)):
                self.name(i, form, PRIOR_SHORT_FORM, alias=True)
            product = product_words(name)
            if product:
                self.name(i, product, PRIOR_SHORT_FORM)

    def _attack_objects(self) -> None:
        """Tactics and mitigations, one entry per ATT&CK ID (the enterprise object first)."""
        ix = self.ix
        rows: list[tuple[str, str, str, str, bool]] = [
            ("tactic", t.attack_id, t.name, t.domain, True) for t in self.src.tactics if t.attack_id
        ]
        rows += [
            ("mitigation", m.attack_id, m.name, m.domain, not (m.revoked or m.deprecated))
            for m in self.src.mitigations
        ]
        rows.sort(key=lambda r: (not r[4], DOMAIN_ORDER.get(r[3], 9), r[1]))
        for kind, attack_id, name, domain, current in rows:
            if attack_id in ix.attack_objects:
                continue
            prior = PRIOR_TACTIC if kind == "tactic" else PRIOR_MITIGATION
            if domain != "enterprise":
                prior *= 0.98
            i = self.add(
                Entry(
                    kind,
                    attack_id,
                    name,
                    domain=domain,
                    current=current,
                    prior=prior * (1 if current else 0.9),
                )
            )
            ix.attack_objects[attack_id] = i
            self.name(i, name)

    def _aliases(self) -> None:
        ix = self.ix
        for word, meaning in self.aliases.abbreviations.items():
            ix.abbreviations[stem(word)] = tuple(name_tokens(meaning))
        missing = []
        for a in self.aliases.aliases:
            if a.kind == "technique":
                i = ix.techniques.get(a.id)
            else:
                fw = a.framework or ""
                i = ix.capabilities.get((fw, canonical_capability_id(fw, a.id)))
            if i is None:
                missing.append(f"{a.term!r} → {a.framework + ':' if a.framework else ''}{a.id} ({a.source})")
                continue
            prior = 1.0
            shadow = self.threat_terms.get(fold(a.term)) if a.kind == "technique" else None
            if shadow is not None:  # "mimikatz": the software's name, offered as the technique too
                ix.shadows.setdefault(shadow, a.id)
                prior = PRIOR_SHADOWED_ALIAS
            self.name(i, a.term, prior, alias=True)
        if missing:
            # The shipped list names targets a partial load may lack (an INFO); an admin's own file
            # naming what is not loaded is a mistake to see (a WARNING).
            shipped = str(DEFAULT_ALIAS_FILE)
            theirs = [m for m in missing if not m.endswith(f"({shipped})")]
            level = logging.WARNING if theirs else logging.INFO
            log.log(
                level,
                "aliases whose target is not in the loaded data: %s",
                "; ".join((theirs or missing)[:20]),
            )

    def _tactics(self) -> None:
        seen = set()
        for t in self.src.tactics:
            toks = tuple(name_tokens(t.name))
            if toks and (toks, t.shortname) not in seen:
                seen.add((toks, t.shortname))
                self.ix.tactic_names.append((toks, t.shortname))
        platforms: dict[str, str] = {}
        for row in self.src.techniques:
            for p in row.platforms:
                for w in words(p):
                    if len(w) > 3 and w not in STOP_WORDS and w not in FRAMEWORK_WORDS:
                        platforms.setdefault(stem(w), fold(p))
        self.ix.platform_words = platforms

    def _vocabulary(self) -> None:
        ix = self.ix
        df: dict[int, set[int]] = defaultdict(set)
        raw: list[tuple[int, tuple[int, ...], float, bool]] = []
        abbr = ix.abbreviations
        surface: dict[str, str] = {}
        for entry, text, prior, alias in self.names:
            plain = name_tokens(text)
            ws = words(text)
            for w in ws:
                if len(w) >= 5 and w not in surface:
                    surface[w] = stem(w)
            if not alias and len(plain) < len(ws) <= 2 and ws[0] in STOP_WORDS:
                # "At (Windows)" must not become just "windows": short names keep every word
                plain = [stem(w) for w in ws if w not in FRAMEWORK_WORDS]
            expanded: list[str] = []
            for t in plain:
                expanded.extend(abbr.get(t, (t,)))
            toks = list(dict.fromkeys(expanded))
            if not toks:
                continue
            ix.bigrams.update(itertools.pairwise(toks))
            tids: list[int] = []
            for t in toks:
                tid = ix.vocab.get(t)
                if tid is None:
                    tid = len(ix.words)
                    ix.vocab[t] = tid
                    ix.words.append(t)
                tids.append(tid)
                df[tid].add(entry)
            raw.append((entry, tuple(tids), prior, alias))
        # Threat names (groups, software, campaigns) do not change how rare a technique's or a
        # control's word is: the IDF counts the other entries, and a word only threats use counts
        # its threats.  Only a threat's own words are not matched by prefix ("paris" is not
        # "Parisite"): threat names are proper nouns, not abbreviations.

        threat_entries = {i for i, e in enumerate(ix.entries) if e.kind in THREAT_KINDS}
        n = max(len(ix.entries) - len(threat_entries), 1)
        ix.idf = [
            math.log(1.0 + n / (len(df[tid] - threat_entries) or len(df[tid])))
            for tid in range(len(ix.words))
        ]
        ix.no_prefix = frozenset(w for tid, w in enumerate(ix.words) if df[tid] <= threat_entries)
        ix.default_weight = sorted(ix.idf)[len(ix.idf) // 2] if ix.idf else 3.0
        ix.max_idf = max(ix.idf, default=1.0)
        ix.postings = [[] for _ in ix.words]
        seen: set[tuple[int, tuple[int, ...]]] = set()
        for entry, vtids, prior, alias in raw:
            if (entry, vtids) in seen:
                continue
            seen.add((entry, vtids))
            weights = tuple(ix.idf[t] * (SOFT_WEIGHT if ix.words[t] in SOFT_STEMS else 1.0) for t in vtids)
            vid = len(ix.variants)
            ix.variants.append(Variant(entry, vtids, weights, sum(weights), prior, alias))
            for tid in vtids:
                ix.postings[tid].append(vid)
        ix._sorted_words = sorted(ix.words)
        ix._surface = {w: st for w, st in surface.items() if st != w and st in ix.vocab}
        by_len: dict[tuple[Any, ...], list[str]] = defaultdict(list)
        for w in itertools.chain(ix.words, (w for w in ix._surface if w not in ix.vocab)):
            if not w.isdigit() and len(w) >= 2:
                by_len[(len(w), w[0])].append(w)
                by_len[(len(w), "", w[1])].append(w)
        ix._by_length = dict(by_len)

    def _text(self) -> None:
        """The text index: per technique, its names (aliases included) and ATT&CK's text."""
        ix = self.ix
        names: dict[int, list[str]] = defaultdict(list)
        for entry, text, _, _ in self.names:
            if ix.entries[entry].kind == "technique":
                names[entry].append(text)
        docs = self.src.documents

        def fields() -> Iterator[tuple[int, dict[str, Sequence[str]]]]:
            for attack_id, i in ix.techniques.items():
                doc = docs.get(attack_id)
                if doc is None:
                    yield i, {"name": names.get(i, ())}
                    continue
                yield (
                    i,
                    {
                        "name": names.get(i, ()),
                        "description": (doc.description,),
                        "procedures": [p.text for p in doc.procedures],
                        "detections": doc.detections,
                        "mitigations": doc.mitigations,
                        "software": doc.software,
                    },
                )

        ix.text = TextIndex.build(fields())
