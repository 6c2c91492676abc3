"""Turning raw chat text into something safe to scan, and names into comparable tokens.

The same tokeniser runs over names at index time and over queries at resolve time, so that
"Side-Loading", "side loading" and "sideloading" meet in the middle.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

MAX_INPUT_CHARS = 4000  # a Slack message can be longer; nobody asks a question that long
MAX_NAME_CHARS = 300  # free text past this is not searched for names (IDs still are)

# Slack wraps mentions and links: <@U123|bob>, <#C1|general>, <!channel>, <https://x|label>.
_SLACK_SPECIAL = re.compile(r"<[@#!][^<>]{0,200}>")
_SLACK_LINK = re.compile(r"<((?:https?|mailto):[^<>|\s]{1,2000})(?:\|[^<>]{0,500})?>")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_FORMATTING = re.compile(r"[*`~\"“”‘’«»]")

_WORD = re.compile(r"[a-z0-9]+")

# Words that never identify anything on their own: question scaffolding and chat filler.
# They are dropped from queries and carry no weight inside names.
STOP_WORDS = frozenset(
    """
    a an the of for to in on at by with without from into onto over under via as and or nor not
    is are was were be been being am do does did doing done have has had having can could should
    would will shall may might must i me my we us our you your it its they them their he she this
    that these those there here what which who whom whose when where why how whats hows
    please pls plz thanks thank hi hey hello yo show give find get tell see look lookup
    looking need want know any all some every each which about regarding re
    mitre att ck attck mitigate mitigates mitigated mitigating mitigation mitigations
    cover covers covered covering coverage map maps mapped mapping mappings
    technique techniques subtechnique sub tactic ttp ttps
    against handle handles deal help helps
    relevant related apply applies applicable is if then also just only than
    me us os cve cves explain describe
    """.split()  # noqa: SIM905
)

# Words that are filler in a question ("controls for", "vulnerability in") but part of some
# names ("Access Control", "Use Alternate Authentication Material", "IP Addresses"): kept on
# both sides at a fraction of their weight, so they neither dominate nor vanish.
SOFT_WORDS = frozenset(
    """
    control controls vulnerability vulnerabilities vuln vulns use used using address addresses
    capability capabilities block blocks stop stops one ones list attack security framework frameworks
    """.split()  # noqa: SIM905
)
SOFT_WEIGHT = 0.4


def clean(text: object) -> str:
    """Plain, bounded text: Slack markup resolved, entities unescaped, controls gone.

    Never raises: anything that is not a string is stringified first.
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    text = text[: MAX_INPUT_CHARS * 2]
    text = _SLACK_LINK.sub(lambda m: f" {m.group(1)} ", text)
    text = _SLACK_SPECIAL.sub(" ", text)
    if "&" in text:  # Slack escapes exactly these three in message text
        text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub(" ", text)
    text = _FORMATTING.sub(" ", text)
    text = text.replace("\u2010", "-").replace("\u2011", "-").replace("\u2013", "-").replace("\u2014", "-")
    return " ".join(text[:MAX_INPUT_CHARS].split())


def fold(text: str) -> str:
    """Case- and accent-insensitive form for comparison."""
    text = text.casefold()
    if text.isascii():
        return text
    # Names and IDs are ASCII: accents go, other scripts cannot match anything anyway.
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A deliberately light stemmer: plural and -ing/-ed endings only.

    Heavier stemming merges words that ATT&CK keeps apart (e.g. "discovery"/"discover"
    is fine, but "injection"/"inject" is not worth the risk of "service"/"serve").
    """
    n = len(word)
    if n <= 3 or word.isdigit():
        return word
    if n > 8 and word.endswith("fication"):  # modification → modify, identification → identify
        return word[:-7] + "y"
    if n > 6 and word.endswith("ation"):  # escalation, escalate, escalating → escalat
        return word[:-3]
    if n > 6 and word.endswith("ate"):
        return word[:-1]
    if word.endswith("ies") and n > 4:
        return word[:-3] + "y"
    if word.endswith("sses"):
        return word[:-2]
    if word.endswith("ing") and n > 5:
        base = word[:-3]
        if len(base) > 2 and base[-1] == base[-2] and base[-1] not in "sl":
            base = base[:-1]
        return base
    if word.endswith("ed") and n > 5 and not word.endswith("eed"):
        base = word[:-2]
        if len(base) > 2 and base[-1] == base[-2] and base[-1] not in "sl":
            base = base[:-1]
        return base
    if word.endswith("s") and not word.endswith(("ss", "us", "is", "os")):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    """Lower-case alphanumeric runs of ``text`` (hyphens, slashes and dots split words)."""
    return _WORD.findall(fold(text))


def tokens(text: str) -> list[str]:
    """Stemmed content words: ``words`` without stop words."""
    return [stem(w) for w in words(text) if w not in STOP_WORDS]


def joined_variant(name: str) -> str | None:
    """``name`` with intra-word hyphens/slashes removed ("Side-Loading" → "SideLoading"), if any."""
    if not re.search(r"\w[-/]\w", name):
        return None
    return re.sub(r"(?<=\w)[-/](?=\w)", "", name)
