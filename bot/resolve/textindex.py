"""A field-weighted BM25 index over everything ATT&CK writes about each technique.

Names and aliases only know what somebody wrote down; analysts describe what they saw ("pam
backdoor", "ppid spoofing", "rclone to mega").  Those words are in the techniques' descriptions,
procedure examples, detections and mitigations, so each technique is one document whose fields
are weighted (BM25F): its names count most, then what software uses it, its description, its
procedure examples, detections and mitigations.

Compact and pure Python: one flat ``array`` of (document, impact) postings, each term's sorted by
impact, so a query reads only the best ``TOP_POSTINGS`` of each term.  Measured against bm25s
(numpy + scipy sparse) on the full corpus, see the commit that added it.
"""

from __future__ import annotations

import math
import re
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bot.resolve.text import STOP_WORDS, stem

# Field → (weight, length normalisation b).  Names are short and decisive; procedure examples
# are many and repetitive (hundreds for Ingress Tool Transfer), so they are normalised hard.
FIELDS: dict[str, tuple[float, float]] = {
    "name": (4.0, 0.3),
    "software": (1.2, 0.5),
    "description": (1.0, 0.75),
    "procedures": (0.8, 0.8),
    "detections": (0.5, 0.75),
    "mitigations": (0.35, 0.75),
}
K1 = 1.2
TOP_POSTINGS = 200  # postings read per query term (the highest-impact ones) ...
COMMON_POSTINGS = 50  # ... or per common term (IDF under COMMON_IDF of the rarest term's)
COMMON_IDF = 0.4
MAX_TERMS = 12  # rarest terms of a question that are looked up

_CITATION = re.compile(r"\(Citation:[^)]{0,300}\)")
_THREAT_LINK = re.compile(
    r"\[[^\[\]]{1,200}\]\(https?://attack\.mitre\.org/(?:groups|software|campaigns)/[^)]{0,100}\)"
)
_MD_LINK = re.compile(r"\[([^\[\]]{1,300})\]\([^)\s]{1,500}\)")
_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]{0,10}(?:\s[^<>]{0,300})?/?>")
_URL = re.compile(r"https?://\S{1,500}")

# Prose words that are everywhere in ATT&CK's text and never what a question is about.
TEXT_STOP = STOP_WORDS | frozenset(
    """adversary adversaries may also other such including include includes e g etc example
    use used uses using has have been which within order""".split()  # noqa: SIM905
)


def term(stemmed: str) -> str:
    """The index's form of a stemmed word: without a final "e", so that the light stemmer's
    "deleted" → "delet" meets "delete" and "deletes"."""
    return stemmed[:-1] if len(stemmed) > 4 and stemmed.endswith("e") else stemmed


def _stem_or_none(word: str) -> str | None:
    if word in TEXT_STOP or len(word) < 2 or (word.isdigit() and len(word) < 3):
        return None
    return term(stem(word))


# ASCII letters and digits lower-cased, everything else a space: ``tokens`` splits on it (three
# times quicker than ``re.findall`` over the ~6 million characters of ATT&CK's text).
_ALNUM = bytes(
    (c + 32 if 65 <= c <= 90 else c) if (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122) else 32
    for c in range(256)
)


def tokens(text: str) -> list[str]:
    """The runs of ASCII letters and digits of ``text``, lower-cased."""
    return text.encode("ascii", "replace").translate(_ALNUM).decode("ascii").split()


def _second(kv: tuple[int, float]) -> float:
    return kv[1]


def plain(text: str) -> str:
    """Text without citations, links to the actor or software it is about, URLs and tags."""
    text = _CITATION.sub(" ", text)
    text = _THREAT_LINK.sub(" ", text)
    text = _MD_LINK.sub(r" \1 ", text)
    text = _URL.sub(" ", text)
    return _TAG.sub(" ", text)


@dataclass
class TextIndex:
    """Documents are resolver entry numbers; ``search`` gives (entry, share of the question)."""

    entries: list[int] = field(default_factory=list)
    vocab: dict[str, int] = field(default_factory=dict)
    idf: array[float] = field(default_factory=lambda: array("f"))
    offsets: array[int] = field(default_factory=lambda: array("i", [0]))
    post_docs: array[int] = field(default_factory=lambda: array("i"))
    post_impact: array[float] = field(default_factory=lambda: array("f"))

    @classmethod
    def build(cls, documents: Iterable[tuple[int, Mapping[str, Sequence[str]]]]) -> TextIndex:
        """``documents``: (resolver entry, {field: [texts]}) with fields from ``FIELDS``."""
        # Pass 1: raw word counts per (document, field); the words' stems once per distinct word.
        counted: list[tuple[int, list[tuple[str, int, Counter[str]]]]] = []
        totals = dict.fromkeys(FIELDS, 0)
        vocabulary: set[str] = set()
        for entry, fields in documents:
            parts = []
            for name, texts in fields.items():
                if name in FIELDS and texts:
                    ws = tokens(plain("\n".join(texts)))
                    if ws:
                        c = Counter(ws)
                        parts.append((name, len(ws), c))
                        totals[name] += len(ws)
                        vocabulary.update(c)
            if parts:
                counted.append((entry, parts))
        n_docs = len(counted)
        avg = {f: (totals[f] / n_docs if n_docs else 1.0) or 1.0 for f in FIELDS}
        stems = {w: _stem_or_none(w) for w in vocabulary}
        # Pass 2: BM25F term frequency per (stem, document): each field's count, weighted and
        # normalised by that field's length.
        postings: dict[str, dict[int, float]] = {}
        for d, (_, parts) in enumerate(counted):
            for name, length, c in parts:
                weight, b = FIELDS[name]
                norm = weight / (1.0 - b + b * length / avg[name])
                for w, k in c.items():
                    s = stems[w]
                    if s is None:
                        continue
                    pd = postings.get(s)
                    if pd is None:
                        postings[s] = {d: k * norm}
                    else:
                        pd[d] = pd.get(d, 0.0) + k * norm
        ix = cls(entries=[e for e, _ in counted])
        idf = array("f")
        post_docs, post_impact, offsets = ix.post_docs, ix.post_impact, ix.offsets
        for s in sorted(postings):
            pd = postings[s]
            df = len(pd)
            weight = math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
            ix.vocab[s] = len(idf)
            idf.append(weight)
            # best first where a query may read only the head of the list
            items = sorted(pd.items(), key=_second, reverse=True) if df > COMMON_POSTINGS else pd.items()
            post_docs.extend([doc for doc, _ in items])
            post_impact.extend([weight * v / (v + K1) for _, v in items])
            offsets.append(len(post_docs))
        ix.idf = idf
        return ix

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def max_idf(self) -> float:
        return self._unknown_idf()

    def knows(self, term: str) -> bool:
        return term in self.vocab

    def term_idf(self, term: str) -> float:
        tid = self.vocab.get(term)
        return 0.0 if tid is None else self.idf[tid]

    def search(self, terms: Sequence[tuple[str, float]], limit: int = 30) -> list[tuple[int, float, int]]:
        """(entry, score, matched) best first.  A score is the share of the question's weight the
        document explains, in [0, 1): terms unknown to the index count against every document.
        ``matched`` has bit k set when the document holds ``terms[k]`` (among its best postings).

        Bounded work whatever the question: the ``MAX_TERMS`` rarest terms, and of each term
        only its best postings (fewer for common words, which decide little).
        """
        total = 0.0
        unknown = self._unknown_idf()
        known: list[tuple[float, int, int, float]] = []  # idf, term position, term ID, weight
        seen: set[str] = set()
        for k, (term, weight) in enumerate(terms):
            if term in seen or weight <= 0:
                continue
            seen.add(term)
            tid = self.vocab.get(term)
            if tid is None:
                total += weight * unknown
            else:
                total += weight * self.idf[tid]
                known.append((self.idf[tid], k, tid, weight))
        if not known or total <= 0:
            return []
        known.sort(reverse=True)
        acc: dict[int, float] = {}
        masks: dict[int, int] = {}
        for w, k, tid, weight in known[:MAX_TERMS]:
            start = self.offsets[tid]
            budget = TOP_POSTINGS if w >= COMMON_IDF * unknown else COMMON_POSTINGS
            end = min(self.offsets[tid + 1], start + budget)
            bit = 1 << k
            docs, impacts = self.post_docs[start:end], self.post_impact[start:end]
            if not acc:  # the rarest term: its postings as they are (a document once per term)
                acc = dict(zip(docs, impacts if weight == 1.0 else map(weight.__mul__, impacts), strict=True))
                masks = dict.fromkeys(docs, bit)
                continue
            get, mget = acc.get, masks.get
            for d, i in zip(docs, impacts, strict=True):
                acc[d] = get(d, 0.0) + weight * i
                masks[d] = mget(d, 0) | bit
        best = sorted(acc.items(), key=_second, reverse=True)[:limit]
        return [(self.entries[d], s / total, masks[d]) for d, s in best]

    def _unknown_idf(self) -> float:
        # a word no document has is as specific as the rarest word there is
        return math.log(1.0 + (len(self.entries) + 0.5) / 0.5)
