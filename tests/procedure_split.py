"""The procedure split: questions the resolver's index has never seen, from ATT&CK's own text.

For every current technique with at least ``MIN_EXAMPLES`` procedure examples, a fixed 20% of
them (chosen by a hash of the relationship's STIX ID, so the split never moves) is held out: the
index is built without them, and each becomes a question by removing its citations and links,
the name of the actor or software it is about, and the words of the technique's own name (and
its parent's).  What is left is how an analyst describes what they saw ("…used sticky keys to
get a SYSTEM shell at the logon screen").  bench/resolve.py reports top-1 and top-3 over them;
tests/test_resolve_split.py checks the split leaks nothing into the index.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace

from bot.resolve.text import words
from bot.resolve.textindex import plain
from store.reads.resolver_source import IndexSource
from store.reads.technique_text import TechniqueDocument

MIN_EXAMPLES = 4
HELD_OUT_SHARE = 0.2
MAX_QUESTION_CHARS = 300  # the resolver reads names in this much of a question


@dataclass(frozen=True)
class HeldOut:
    technique: str
    link_id: str
    question: str
    text: str  # the example as written (for the leak test)


def _rank(link_id: str) -> str:
    return hashlib.sha256(link_id.encode()).hexdigest()


def held_out_links(src: IndexSource) -> dict[str, list[str]]:
    """Technique ID → the STIX IDs of its held-out examples."""
    current = {t.attack_id for t in src.techniques if not (t.revoked or t.deprecated)}
    out: dict[str, list[str]] = {}
    for tid, doc in src.documents.items():
        links = sorted({p.link_id for p in doc.procedures if p.text}, key=_rank)
        if tid in current and len(links) >= MIN_EXAMPLES:
            out[tid] = links[: max(1, round(HELD_OUT_SHARE * len(links)))]
    return out


def _question(text: str, remove: set[str]) -> str:
    kept = [w for w in words(plain(text)) if w not in remove]
    return " ".join(kept)[:MAX_QUESTION_CHARS].rsplit(" ", 1)[0] if kept else ""


def split(src: IndexSource) -> tuple[IndexSource, list[HeldOut]]:
    """The source without the held-out examples, and the questions made from them."""
    names = {t.attack_id: t for t in src.techniques}
    held = held_out_links(src)
    questions: list[HeldOut] = []
    documents: dict[str, TechniqueDocument] = {}
    for tid, doc in src.documents.items():
        out = set(held.get(tid, ()))
        if not out:
            documents[tid] = doc
            continue
        tech = names[tid]
        own = set(words(tech.name))
        if tech.parent_id and tech.parent_id in names:
            own |= set(words(names[tech.parent_id].name))
        kept = []
        for p in doc.procedures:
            if p.link_id not in out:
                kept.append(p)
                continue
            actor = set(words(p.source_name)) | set(words(re.sub(r"\W", "", p.source_name)))
            q = _question(p.text, own | actor)
            if len(q.split()) >= 3:
                questions.append(HeldOut(tid, p.link_id, q, p.text))
        documents[tid] = replace(doc, procedures=kept)
    return replace(src, documents=documents), questions
