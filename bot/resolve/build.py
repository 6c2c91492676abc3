"""Building the resolver's index from the store's rows: entries for every technique, capability,
control family, threat, tactic and mitigation, their name variants (aliases and derived short
forms included), the vocabulary with IDF weights, and the text index.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from array import array
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from bot.resolve.aliases import DEFAULT_ALIAS_FILE, AliasSet
from bot.resolve.entries import (
    DOMAIN_ORDER,
    PRIOR_CAPABILITY,
    PRIOR_DEPRECATED,
    PRIOR_GROUP,
    PRIOR_KEV_NAME,
    PRIOR_MITIGATION,
    PRIOR_OLD_NAME,
    PRIOR_REVOKED,
    PRIOR_SHORT_FORM,
    PRIOR_TACTIC,
    PRIOR_TECHNIQUE,
    PRIOR_VERIS_LEAF,
    SOFT_STEMS,
    Entry,
    IndexData,
    Variant,
    name_tokens,
)
from bot.resolve.shortforms import PRODUCT_FRAMEWORKS, product_words, short_forms
from bot.resolve.text import SOFT_WEIGHT, STOP_WORDS, fold, joined_variant, stem, words
from bot.resolve.textindex import TextIndex
from bot.resolve.threats import PRIOR_SHADOWED_ALIAS, THREAT_KINDS, threat_entries, threat_spans
from bot.resolve.vocab import FRAMEWORK_WORDS, framework_spans
from store.ids import canonical_capability_id
from store.reads.resolver_source import IndexSource, TechniqueRow

log = logging.getLogger("bot.resolve.index")


class Builder:
    def __init__(self, src: IndexSource, aliases: AliasSet, ix: IndexData) -> None:
        self.src = src
        self.aliases = aliases
        self.ix = ix
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

    def build(self) -> IndexData:
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
        ix.threat_spans = threat_spans(self.threat_terms, ix.entries, ix.no_prefix)
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
        ix.variant_bound = array("d", (v.prior / v.total**0.6 if v.total else 0.0 for v in ix.variants))
        ix._sorted_words = sorted(ix.words)
        product: dict[str, set[str]] = defaultdict(set)
        for entry, vtids, _, alias in raw:
            fw = ix.entries[entry].framework
            if fw in PRODUCT_FRAMEWORKS and not alias:
                product[fw].update(ix.words[t] for t in vtids if not ix.words[t].isdigit())
        ix.framework_words = {fw: sorted(ws) for fw, ws in product.items()}
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
