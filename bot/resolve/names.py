"""The resolver's name stage: the words left after IDs and steering are matched against
technique, control, group and threat names (and techniques' ATT&CK text), and up to three
convincing names are accepted."""

from __future__ import annotations

import dataclasses

from bot.resolve import fusion, vocab
from bot.resolve import threats as threatre
from bot.resolve.index import ATTACK_OBJECT_KINDS, SOFT_STEMS, Entry, name_tokens
from bot.resolve.state import Match, ResolverState, Slot
from bot.resolve.text import MAX_NAME_CHARS, SOFT_WEIGHT, STOP_WORDS, fold, stem, words

MAX_SLOTS = 24  # content words considered for names; questions are short, pastes are not
MAX_FUZZY = 8  # unknown words looked up approximately per question (typos are few; noise is not)
ACCEPT = 58.0  # lowest score a name match needs to count as an answer
ACCEPT_MORE = 66.0  # ... and to be a second/third entity next to the first
NAME_SCORE_MAX = 99.0  # 100 is kept for IDs typed exactly
SHORTLIST = 50  # name variants scored exactly per question
HALF = 0.55  # a common word must cover more than half of a name (by weight) to name it
RARE = 0.88  # IDF relative to the rarest word: a word in at most two or three names
SECOND_SHARE = 0.34  # a further entity's words are at least this share of the question, or rare
PRODUCT_PREFIX = 0.85  # a word that begins a product word of a vendor the question names
OBJECT_QUESTION = 0.75  # a tactic or mitigation is the answer only when it is most of the question

_KIND_ORDER = {
    "technique": 0,
    "capability": 1,
    "group": 2,
    **threatre.KIND_ORDER,
    "tactic": 6,
    "mitigation": 7,
}


class NameStage(ResolverState):
    """Names in what the ID and steering stages left."""

    # ------------------------------------------------------------------ names

    def _slots(self) -> tuple[list[Slot], list[str]]:
        ix = self.ix
        raw = words(self._cur()[:MAX_NAME_CHARS])
        plain = [
            w
            for w in raw
            if w not in STOP_WORDS
            and w not in vocab.FAMILY_WORDS
            and w not in vocab.FRAMEWORK_WORDS
            and not vocab.narrative(w)
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
            if self.st.frameworks:
                cands = self._product_words(t, cands)
            if best is None:
                slots.append(Slot(t, cands, ix.default_weight))
            else:
                soft = SOFT_WEIGHT if t in SOFT_STEMS else 1.0
                slots.append(Slot(t, cands, ix.idf[best[0]] * best[1] * soft, ix.idf[best[0]] / ix.max_idf))
        return slots, raw

    def _product_words(
        self, token: str, cands: tuple[tuple[int, float], ...]
    ) -> tuple[tuple[int, float], ...]:
        """Next to a vendor's name a word may begin one of its product words ("amazon guard" is
        GuardDuty), as a partial match: it stays below the word itself."""
        longer = self.ix.product_words(self.st.frameworks, token)
        if not longer:
            return cands
        have = {tid for tid, _ in cands}
        extra = tuple((self.ix.vocab[w], PRODUCT_PREFIX) for w in longer if self.ix.vocab[w] not in have)
        return cands + extra

    def _score(self, slots: list[Slot], active: set[int], whole: float | None = None) -> dict[int, Match]:
        """Name matches over the ``active`` slots; ``whole`` is the weight of the whole question
        when ``active`` is what is left of it after a first entity."""
        ix = self.ix
        hits: dict[int, list[tuple[int, float]]] = {}
        for s in active:
            for tid, sim in slots[s].cands:
                hits.setdefault(tid, []).append((s, sim))
        total_q = sum(slots[s].weight for s in active) or 1.0
        whole_q = whole or total_q
        # "mobile" is left in the text (names use it) but, for a tactic, only says which domain
        domain_w = sum(slots[s].weight for s in active if slots[s].token == self.st.domain)
        # ... and a platform ("persistence on linux") only narrows the tactic down
        platform_w = sum(slots[s].weight for s in active if slots[s].token in ix.platform_words)
        touched = self._shortlist(hits, total_q)
        best: dict[int, Match] = {}
        tactics = self._tactics_named(slots, active)
        platforms = {ix.platform_words[slots[s].token] for s in active if slots[s].token in ix.platform_words}
        best_pair = {tid: max(pairs, key=lambda p: p[1]) for tid, pairs in hits.items()}
        weights = [slots[s].weight for s in range(len(slots))]
        descriptors = [s for s in active if slots[s].token in threatre.DESCRIPTORS]
        rarities = [slots[s].rarity for s in range(len(slots))]
        variants = ix.variants
        for vid in touched:
            v = variants[vid]
            matched = 0.0
            got = 0.0  # the question's weight the name explains (each slot at its best similarity)
            rarity = -1.0  # the rarest word matched closely (sim >= 0.9), -1 if none is
            used: dict[int, float] = {}
            for t, w in zip(v.tids, v.weights, strict=True):
                pair = best_pair.get(t)
                if pair is None:
                    continue
                s, sim = pair
                matched += w * sim
                old = used.get(s, 0.0)
                if old < sim:
                    used[s] = sim
                    got += weights[s] * (sim - old)
                    if sim >= 0.9 and rarities[s] > rarity:
                        rarity = rarities[s]
            name_cov = matched / v.total if v.total else 0.0
            if v.alias and name_cov < 0.95:
                continue
            q_cov = got / total_q
            eligible = True
            if not v.alias and got:
                # A rare word that the whole question consists of ("moveit", "log4j") names its
                # entity even when the full name is much longer.  A commoner one ("fortinet",
                # "kerberos") only makes it a candidate worth offering, unless it covers half the name.
                rarity = max(rarity, 0.0)
                if rarity >= RARE:
                    # ... the whole question, not what a first entity left of it ("hey bot, what
                    # covers mimikatz?" is not "bot": Saint Bot)
                    name_cov = max(name_cov, 0.85 * got / whole_q)
                elif name_cov < HALF:
                    eligible = False
                    name_cov = max(name_cov, 0.55 * rarity * q_cov)
            e = ix.entries[v.entry]
            if descriptors and name_cov >= 0.95 and e.kind in threatre.THREAT_KINDS:
                for s in descriptors:  # "conti ransomware": the word says what Conti is
                    if s not in used:
                        used[s] = 1.0
                        got += weights[s]
                q_cov = got / total_q
            if e.kind in ATTACK_OBJECT_KINDS:
                if got < OBJECT_QUESTION * (whole_q - domain_w - platform_w):
                    eligible = False  # "cron job persistence": the tactic is context, not the subject
                elif platform_w or (domain_w and e.domain == self.st.domain):
                    # "mobile exfiltration", "linux persistence": both words used
                    q_cov = min(1.0, (got + domain_w + platform_w) / total_q)
            score = 100.0 * (name_cov**0.6) * (min(q_cov, 1.0) ** 0.4) * v.prior * e.prior
            score *= self._context(e, tactics, platforms)
            prev = best.get(v.entry)
            if prev is None or score > prev.score:
                best[v.entry] = Match(
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
            posting = ix.postings[tid]
            if not acc:
                acc = dict.fromkeys(posting, w)  # a variant holds a word once
            else:
                get = acc.get
                for vid in posting:
                    acc[vid] = get(vid, 0.0) + w
            if ix.idf[tid] / ix.max_idf >= RARE:
                rare.update(posting)
        if len(acc) <= SHORTLIST:
            return list(acc)
        # (matched / name total) ** 0.6 * matched * prior, the name total's part precomputed
        factor = ix.variant_bound
        bound = {vid: a**1.6 * factor[vid] for vid, a in acc.items()}
        if rare:
            variants = ix.variants
            q_part = (0.85 / total_q) ** 0.6
            for vid in rare:
                bound[vid] = max(bound[vid], acc[vid] ** 1.6 * q_part * variants[vid].prior)
        return sorted(bound, key=bound.__getitem__, reverse=True)[:SHORTLIST]

    def _tactics_named(self, slots: list[Slot], active: set[int]) -> set[str]:
        present = {slots[s].token for s in active}
        return {
            short
            for toks, short in self.ix.tactic_names
            if toks[0] in present and all(t in present for t in toks)
        }

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
        elif e.kind in threatre.THREAT_KINDS or e.kind in ATTACK_OBJECT_KINDS:
            if st.domain and e.domain != st.domain:
                factor *= 0.95
        else:
            if st.frameworks:
                factor *= 1.06 if e.framework in st.frameworks else 0.8
            if e.kind == "group" and st.group_words:
                factor *= 1.12
        return factor

    def _names(self) -> list[Match]:
        slots, _ = self._slots()
        self._slot_list = slots
        if not slots:
            return []
        active = set(range(len(slots)))
        # A match made only of filter nouns ("detection") or soft words ("controls") names nothing.
        nouns = {token for _, token in self._nouns} | SOFT_STEMS
        scored = self._score(slots, active)
        if not (
            self.st.techniques or self.st.capabilities or self.st.groups or self.st.threats or self.st.objects
        ):
            self._fuse_text(slots, active, scored, nouns)
        ranked = [
            m
            for m in sorted(scored.values(), key=self._order)
            if any(slots[u].token not in nouns for u in m.used)
        ]
        if not ranked:
            return []
        self._replacements_first(ranked)
        self._ranked = ranked
        accepted: list[Match] = []
        top = ranked[0]
        # Next to an ID the leftover words are usually context ("detection", "logs"), so a
        # name then has to be as convincing as a second entity.
        by_id = self._by_id = bool(
            self.st.techniques or self.st.capabilities or self.st.groups or self.st.threats or self.st.objects
        )
        if by_id:
            # "spearphishing attachment T1193": the name restates the ID, it is not a second entity
            typed = {fold(name) for _, _, name in self.st.techniques.values()}
            typed |= {fold(t[2]) for t in self.st.threats.values()}
            ranked = [m for m in ranked if fold(self.ix.entries[m.entry].name) not in typed]
            if not ranked:
                return []
            top = ranked[0]
        whole = sum(slots[s].weight for s in active) or 1.0
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
                again = sorted(self._score(slots, remaining, whole).values(), key=self._order)
                again = [
                    m
                    for m in again
                    if all(m.entry != a.entry for a in accepted)
                    and any(slots[u].token not in nouns for u in m.used)
                    and self._may_follow(m)
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
                if not self._explains_enough(slots, again[0], whole):
                    break
                accepted.append(again[0])
                remaining -= again[0].used
        ceiling = NAME_SCORE_MAX
        for m in accepted:  # in the order accepted: a further entity never outranks the first
            ceiling = min(m.score, ceiling)
            self._add_entry(self.ix.entries[m.entry], ceiling)
            ceiling -= 0.1
        self._accepted = accepted
        return ranked

    def _replacements_first(self, ranked: list[Match]) -> None:
        """A revoked or deprecated technique never ranks above the technique that replaced it when
        both match ("dll side-loading" is T1574.001 now; T1574.002 still resolves by ID, with the
        redirect note)."""
        ix = self.ix
        pos = {m.entry: k for k, m in enumerate(ranked)}
        moved = False
        for k, m in list(enumerate(ranked)):
            e = ix.entries[m.entry]
            if e.kind != "technique" or e.current:
                continue
            repl = ix.techniques.get(ix.replaced_by.get(e.id, ""), -1)
            j = pos.get(repl)
            if j is not None and j > k and ranked[j].eligible:
                ranked[j].score = max(ranked[j].score, m.score)
                moved = True
            elif repl >= 0 and m.eligible and (j is None or j > k):
                # Its words are the revoked name's ("new service" was T1050): the answer is still
                # the technique that replaced it, as for a revoked group.
                stand_in = dataclasses.replace(m, entry=repl)
                if j is None:
                    pos[repl] = len(ranked)
                    ranked.append(stand_in)
                else:
                    ranked[j] = stand_in
                moved = True
        if moved:
            ranked.sort(key=self._order)

    def _may_follow(self, m: Match) -> bool:
        """A VERIS leaf is a plain word ("email", "guard"): next to a first entity it is a
        further one only when the question names VERIS ("phishing email" is T1566 alone) ..."""
        e = self.ix.entries[m.entry]
        if e.framework in self.st.frameworks:
            return True
        # ... nor is a control named like a tactic (M365's "Lateral Movements") unless its
        # framework is named: a tactic's words beside a technique are context
        return e.framework != "veris" and tuple(name_tokens(e.name)) not in self._tactic_tokens()

    def _tactic_tokens(self) -> set[tuple[str, ...]]:
        return {toks for toks, _ in self.ix.tactic_names}

    @staticmethod
    def _explains_enough(slots: list[Slot], m: Match, whole: float) -> bool:
        """A further entity names a real part of the question: a rare word ("rubeus", "safe
        links"), or a fair share of it; one common word left over ("tool", "malware", "bot") is
        context, not a second subject."""
        used = [u for u in m.used if slots[u].cands]
        if not used:
            return False
        share = sum(slots[u].weight for u in used) / whole
        return share >= SECOND_SHARE or max(slots[u].rarity for u in used) >= RARE

    def _sharing(
        self,
        slots: list[Slot],
        active: set[int],
        remaining: set[int],
        accepted: list[Match],
        nouns: set[str],
    ) -> Match | None:
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
                and self._may_follow(m)
            ):
                return m
        return None

    def _fuse_text(
        self, slots: list[Slot], active: set[int], scored: dict[int, Match], skip: set[str]
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
            scored[f.entry] = Match(f.entry, f.score, name_cov, f.used, length, f.eligible, q_cov)

    def _order(self, m: Match) -> tuple[float, int, int, int, int, int, str]:
        e = self.ix.entries[m.entry]
        kind = _KIND_ORDER.get(e.kind, 9)
        depth = self.ix.revocation_depth.get(e.id, 0) if e.kind == "technique" else 0
        return (-round(m.score, 1), 0 if e.current else 1, depth, kind, m.length, len(e.name), e.id)
