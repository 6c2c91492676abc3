"""The resolver's in-memory index: every technique, capability and group, by ID and by name.

Built once from the store (a few selects, well under a second) and then read-only, so one
index can serve every thread.  Names are indexed as stemmed tokens with IDF weights; a token
→ name-variant posting list keeps matching to the handful of names that share a word with the
question instead of scoring every name.
"""

from __future__ import annotations

import bisect
import gc
import logging

from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.resolve.aliases import AliasSet
from bot.resolve.build import Builder
from bot.resolve.entries import (
    ATTACK_OBJECT_KINDS,
    DOMAIN_ORDER,
    SOFT_STEMS,
    Entry,
    IndexData,
    Variant,
    name_tokens,
)
from bot.resolve.text import stem
from store.reads.resolver_source import IndexSource
from store.reads.scope import Reads

log = logging.getLogger(__name__)

# The entries' types and constants are found here by callers (``bot.resolve.entries`` holds them).
__all__ = [
    "ATTACK_OBJECT_KINDS",
    "DOMAIN_ORDER",
    "SOFT_STEMS",
    "Entry",
    "ResolverIndex",
    "Variant",
    "name_tokens",
]


class ResolverIndex(IndexData):
    """The index with its look-ups: built once, then read-only (one index serves every thread)."""

    # ------------------------------------------------------------------ building

    @classmethod
    def build(cls, data: Reads, *, aliases: AliasSet | None = None) -> ResolverIndex:
        return cls.from_source(data.resolver_source(), aliases=aliases)

    @classmethod
    def from_source(cls, src: IndexSource, *, aliases: AliasSet | None = None) -> ResolverIndex:
        # Tens of thousands of small tuples: the cyclic GC would rescan them for nothing.
        paused = gc.isenabled()
        gc.disable()
        index = cls()
        try:
            Builder(src, aliases or AliasSet(), index).build()  # fills ``index`` in place
            return index
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

    def product_words(self, frameworks: list[str], token: str) -> list[str]:
        """Longer words of the named frameworks' product names that ``token`` begins ("guard" →
        "guardduty" for AWS); none when the token is itself one of their words, or is short."""
        if len(token) < 4 or token.isdigit():
            return []
        out: list[str] = []
        for fw in frameworks:
            ws = self.framework_words.get(fw)
            if not ws:
                continue
            lo = bisect.bisect_left(ws, token)
            if lo < len(ws) and ws[lo] == token:
                return []
            for w in ws[lo : lo + 4]:
                if not w.startswith(token):
                    break
                out.append(w)
        return out if len(out) <= 3 else []

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
