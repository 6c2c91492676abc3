"""Name matching fused with the text index: names decide when they match closely, ATT&CK's own
text decides when they don't.

The name matcher scores how well a question and a name cover each other; the text index scores
how much of the question a technique's description, procedures, detections and mitigations
explain.  A technique's fused score blends the two; a close name match (the name is most of the
question and the question most of the name) keeps its name score, so "powershell" stays T1059.001
whatever the text says.  Weights were fitted on the development sets and checked on the
procedure split (bench/resolve.py).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import NamedTuple, Protocol

from bot.resolve.index import ResolverIndex, name_tokens
from bot.resolve.textindex import term

NAME_WEIGHT = 0.9  # how far a name match alone goes
TEXT_WEIGHT = 1.5  # how far the text alone goes (a share of 0.4 of the question is an answer)
TEXT_CAP = 0.95
INELIGIBLE = 0.5  # a name match that may not be the answer alone still counts this much
CLOSE_QUESTION = 0.8  # a name explaining this much of the question ...
CLOSE_NAME = 0.65  # ... with this much of it matched is a close match: the name decides
TEXT_MIN = 0.3  # a text match explaining less of the question than this is no evidence
RARE_TERM = 0.8  # a one-word question names a technique by text only if the word is this rare
MIN_TYPO_SIMILARITY = 0.8
MAX_HITS = 20  # techniques taken from the text index per question


class NameEvidence(Protocol):
    """What the name matcher found for one entry (its ``_Match``)."""

    score: float  # the name matcher's score, 0..100
    name_cov: float  # share of the name the question matched
    q_cov: float  # share of the question the name explains
    eligible: bool  # may be the answer on its own
    used: frozenset[int]  # the question's slots it matched


class Fused(NamedTuple):
    entry: int
    score: float
    used: frozenset[int]
    eligible: bool
    text: float  # share of the question the technique's text explains


def query_terms(
    ix: ResolverIndex,
    tokens: Sequence[tuple[int, str, Sequence[tuple[int, float]]]],
    skip: Collection[str],
) -> list[tuple[int, str, float]]:
    """(slot, text-index term, weight) for the question's content words.

    A word the text index does not know is replaced by its nearest name-vocabulary word when the
    name matcher found one ("exfil" → "exfiltration", a typo → its word); otherwise it stays, and
    counts against every technique (the question is about something ATT&CK does not describe).
    """
    text = ix.text
    out: list[tuple[int, str, float]] = []
    for slot, token, cands in tokens:
        if token in skip:
            continue
        word = term(token)
        if text.knows(word):
            out.append((slot, word, 1.0))
            continue
        best = next(
            (
                (term(ix.words[tid]), sim)
                for tid, sim in cands
                if sim >= MIN_TYPO_SIMILARITY and text.knows(term(ix.words[tid]))
            ),
            None,
        )
        out.append((slot, best[0], best[1]) if best else (slot, word, 1.0))
    return out


_NOT_THREATS = frozenset({"technique", "capability", "group"})


def is_close(n: NameEvidence) -> bool:
    return n.eligible and n.name_cov >= CLOSE_NAME and n.q_cov >= CLOSE_QUESTION


def fuse(
    ix: ResolverIndex,
    terms: list[tuple[int, str, float]],
    names: Mapping[int, NameEvidence],
    context: Callable[[int], float],
    question: Collection[str],
) -> list[Fused]:
    """Fused candidates for the techniques the text index found.

    ``names`` is the name matcher's evidence for every entry it scored (any kind); ``context``
    each entry's domain/tactic/platform factor, as the name matcher applies it; ``question``
    the question's tokens.  Entries that are not techniques keep their name scores.
    """
    if not terms:
        return []
    hits = ix.text.search([(t, w) for _, t, w in terms], limit=MAX_HITS)
    if not hits:
        return []
    distinct = {t for _, t, _ in terms}
    single_rare = len(distinct) == 1 and ix.text.term_idf(next(iter(distinct))) >= RARE_TERM * ix.text.max_idf
    # A close name match of anything (a control called "Remote Access", a technique called
    # "Cloud Accounts") is not overtaken by text, and keeps the words it explains.
    close = [(n.score, n.used) for n in names.values() if is_close(n)]
    ceiling = max((sc for sc, _ in close), default=None)
    claimed = frozenset().union(*(u for _, u in close)) if close else frozenset()
    # A threat named in full (a tool, a group): a technique whose evidence is only those words
    # (an alias "mimikatz", procedure text naming the tool) does not outrank it; one that also
    # explains the rest of the question ("exfil with rclone to mega") does.
    named = [
        (n.score, n.used)
        for i, n in names.items()
        if n.eligible and n.name_cov >= 0.95 and ix.entries[i].kind not in _NOT_THREATS
    ]
    out: list[Fused] = []
    masked: dict[int, frozenset[int]] = {}  # the question's slots a bit mask of terms stands for
    for entry, x, mask in hits:
        n = names.get(entry)
        x *= context(entry)
        name = (n.score if n.eligible else INELIGIBLE * n.score) / 100.0 if n is not None else 0.0
        # Independent evidence: either may explain the question; both agreeing explain it better.
        text = min(TEXT_CAP, TEXT_WEIGHT * x)  # below 1: among strong text matches the name still ranks
        score = 100.0 * (1.0 - (1.0 - min(1.0, NAME_WEIGHT * name)) * (1.0 - text))
        if n is not None and is_close(n):
            score = n.score  # the name decides
        elif ceiling is not None:
            score = min(score, ceiling - 0.5)
        if n is not None and n.eligible:
            score = max(score, n.score)  # text never lowers a name match
        matched = masked.get(mask)
        if matched is None:
            matched = masked[mask] = frozenset(terms[k][0] for k in range(len(terms)) if mask >> k & 1)
        eligible = (n is not None and n.eligible) or (
            x >= TEXT_MIN and (len({t for s, t, _ in terms if s in matched}) >= 2 or single_rare)
        )
        used = n.used if n is not None and n.eligible else matched - claimed
        evidence = matched | (n.used if n is not None else frozenset())
        for threat_score, threat_used in named:
            if evidence <= threat_used:
                score = min(score, threat_score - 0.5)
        out.append(Fused(entry, score, used, eligible, x))
    _parents_first(ix, out, names, question)
    return out


def _parents_first(
    ix: ResolverIndex, out: list[Fused], names: Mapping[int, NameEvidence], question: Collection[str]
) -> None:
    """A sub-technique does not outrank its parent when the parent's name is the question and
    none of the sub-technique's own words are in it ("supply chain" is T1195, not its
    software variant)."""
    by_entry = {f.entry: k for k, f in enumerate(out)}
    for k, f in enumerate(out):
        e = ix.entries[f.entry]
        if "." not in e.id:
            continue
        parent = ix.techniques.get(e.id.split(".")[0])
        if parent is None:
            continue
        pn = names.get(parent)
        if pn is None or not pn.eligible or pn.q_cov < CLOSE_QUESTION:
            continue
        pk = by_entry.get(parent)
        parent_score = out[pk].score if pk is not None else pn.score
        if f.score < parent_score:
            continue
        own = _own_words(ix, f.entry, parent)
        if own and own.isdisjoint(question):
            out[k] = Fused(f.entry, parent_score - 0.5, f.used, f.eligible, f.text)


_OWN_WORDS: dict[tuple[int, str, str], frozenset[str]] = {}


def _own_words(ix: ResolverIndex, entry: int, parent: int) -> frozenset[str]:
    """The words of a sub-technique's name that its parent's name does not have (memoised)."""
    key = (entry, ix.entries[entry].name, ix.entries[parent].name)
    own = _OWN_WORDS.get(key)
    if own is None:
        own = frozenset(name_tokens(key[1])) - frozenset(name_tokens(key[2]))
        if len(_OWN_WORDS) > 20_000:
            _OWN_WORDS.clear()
        _OWN_WORDS[key] = own
    return own
