"""Short forms of product capabilities, derived from the data's own names: what analysts type
instead of "AWS Web Application Firewall" ("waf", "aws waf"), "Microsoft Defender for Cloud:
Just-in-Time VM Access" ("jit"), "File Integrity Monitoring" ("fim").

Derived, not listed: initialisms of the name and of each tail of it (so "Cloud Data Loss
Prevention" gives "cdlp" and "dlp"), with the vendor and without, initialisms of hyphenated
compounds ("Just-in-Time" → "jit"), and the product's own words after a "Suite: Product" prefix.
An initialism that is an ordinary word of some name ("dns", "ids") or a stop word is left out:
it would shadow the word.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from bot.resolve.text import STOP_WORDS

PRODUCT_FRAMEWORKS = frozenset({"aws", "azure", "gcp", "m365", "intel-vpro"})
MIN_LETTERS = 3
MAX_LETTERS = 6

_WORD = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")


def _initials(word: str) -> str:
    """A word's share of an initialism: an acronym stays whole ("VM", "HSM"), a hyphenated
    compound gives each part's initial ("Just-in-Time" → "jit"), any other word its initial."""
    if len(word) >= 2 and word.isupper() and word.isalpha():
        return word.lower()
    if "-" in word:
        return "".join(p[0] for p in word.split("-") if p).lower()
    return word[0].lower()


def initialisms(name: str) -> set[str]:
    """Initialisms of ``name`` and of each of its tails of two words or more (stop words skipped),
    and of its hyphenated compounds."""
    found: set[str] = set()
    for segment in {name, *name.split(":")[1:]}:
        content = [w for w in _WORD.findall(segment) if w.lower() not in STOP_WORDS]
        for start in range(len(content) - 1):
            found.add("".join(_initials(w) for w in content[start:]))
        found.update(_initials(w) for w in content if "-" in w)
    return {f for f in found if MIN_LETTERS <= len(f) <= MAX_LETTERS and f.isalnum() and not f.isdigit()}


def product_words(name: str) -> str | None:
    """The product after a suite's prefix ("Microsoft Defender for Cloud: File Integrity
    Monitoring" → "File Integrity Monitoring"), or None when the name has no such prefix."""
    if ":" not in name:
        return None
    tail = name.rsplit(":", 1)[1].strip()
    return tail if len(_WORD.findall(tail)) >= 1 and tail != name else None


def short_forms(name: str, known_words: Collection[str]) -> set[str]:
    """Initialisms worth indexing for a capability named ``name``: none that is a stop word or
    already an ordinary word of some name (``known_words``, lower-case)."""
    return {f for f in initialisms(name) if f not in STOP_WORDS and f not in known_words}
