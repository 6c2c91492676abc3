"""The words that steer a question rather than name a thing: frameworks, filters, intent.

Every ``*_spans`` function takes lower-case text (case-insensitive matching is several times
slower in ``re``) and returns character spans of it.
"""

from __future__ import annotations

import re

# Phrase → framework key.  Longest phrases are tried first, so "microsoft 365" is not "microsoft".
FRAMEWORK_PHRASES: dict[str, str] = {
    "nist": "nist_800_53",
    "800-53": "nist_800_53",
    "800 53": "nist_800_53",
    "80053": "nist_800_53",
    "sp 800-53": "nist_800_53",
    "nist 800-53": "nist_800_53",
    "nist sp 800-53": "nist_800_53",
    "m365": "m365",
    "microsoft 365": "m365",
    "microsoft365": "m365",
    "o365": "m365",
    "office 365": "m365",
    "office365": "m365",
    "aws": "aws",
    "amazon": "aws",
    "amazon web services": "aws",
    "azure": "azure",
    "microsoft azure": "azure",
    "gcp": "gcp",
    "google cloud": "gcp",
    "google cloud platform": "gcp",
    "kev": "kev",
    "cisa": "kev",
    "cisa kev": "kev",
    "known exploited vulnerabilities": "kev",
    "known exploited": "kev",
    "veris": "veris",
    "cri": "cri_profile",
    "cri profile": "cri_profile",
    "cyber risk institute": "cri_profile",
    "ccm": "csa_ccm",
    "csa": "csa_ccm",
    "csa ccm": "csa_ccm",
    "cloud controls matrix": "csa_ccm",
    "vpro": "intel-vpro",
    "intel": "intel-vpro",
    "intel vpro": "intel-vpro",
    "intel-vpro": "intel-vpro",
}

# The shortest word that names each framework, for building queries.
FRAMEWORK_QUERY_WORD = {
    "nist_800_53": "nist",
    "m365": "m365",
    "aws": "aws",
    "azure": "azure",
    "gcp": "gcp",
    "kev": "kev",
    "veris": "veris",
    "cri_profile": "cri",
    "csa_ccm": "ccm",
    "intel-vpro": "vpro",
}

# Single words that name a framework; inside capability names they carry no weight
# ("Amazon GuardDuty" is found by "guardduty" once "aws" has picked the framework).
FRAMEWORK_WORDS = frozenset(
    w for phrase in FRAMEWORK_PHRASES for w in re.findall(r"[a-z0-9]+", phrase) if len(phrase.split()) == 1
) | {"google", "microsoft"}

_FRAMEWORK_RE = re.compile(
    r"(?<![\w.&-])("
    + "|".join(
        re.escape(p).replace(r"\ ", r"[\s_]+") for p in sorted(FRAMEWORK_PHRASES, key=len, reverse=True)
    )
    + r")(?![\w&]|-\w)"
)

# NIST revision: rev4, rev 5, r5, revision 4.
_NIST_REV_RE = re.compile(r"(?<![\w.])(?:rev(?:ision)?\.?\s?|r)([45])(?![\w.])")
# ATT&CK version: "attack 14.1", "att&ck v16", "attack version 9.0", "mitre v15.1".
_ATTACK_VERSION_RE = re.compile(
    r"(?<![\w.])(?:mitre\s+)?(?:att&ck|attack|att\s?ck|mitre)\s*(?:version\s*|v\.?\s?)?(\d{1,2})(?:\.(\d{1,2}))?(?![\w.])",
)
# Release dates and versions of other frameworks: 07/18/2025, v2.1, 1.4.0.
_DATE_VERSION_RE = re.compile(r"(?<![\w/.])(\d{2})[/.-](\d{2})[/.-](\d{4})(?![\w/])")
_DOTTED_VERSION_RE = re.compile(
    r"(?<![\w.])(?:v\.?\s?(\d{1,2}\.\d{1,2}(?:\.\d{1,2})?)|(\d\.\d{1,2}\.\d{1,2}))(?![\w.])"
)

_DOMAIN_RE = re.compile(r"(?<![\w-])(mobile|ics|enterprise|industrial control systems?|android|ios)(?![\w-])")
DOMAIN_WORDS = {
    "mobile": "mobile",
    "android": "mobile",
    "ios": "mobile",
    "ics": "ics",
    "enterprise": "enterprise",
}

# Score category words.  The verbs are pure filter words; the nouns ("detection", "response")
# also occur in control names, so they stay in the text for name matching.
CATEGORY_VERBS = {
    "protect": "protect",
    "protects": "protect",
    "protecting": "protect",
    "prevent": "protect",
    "prevents": "protect",
    "preventing": "protect",
    "block": "protect",
    "defend": "protect",
    "defends": "protect",
    "defending": "protect",
    "detect": "detect",
    "detects": "detect",
    "detecting": "detect",
    "alert": "detect",
    "respond": "respond",
    "responds": "respond",
    "responding": "respond",
    "remediate": "respond",
    "contain": "respond",
}
CATEGORY_NOUNS = {
    "protection": "protect",
    "protections": "protect",
    "prevention": "protect",
    "preventive": "protect",
    "preventative": "protect",
    "protective": "protect",
    "detection": "detect",
    "detections": "detect",
    "detective": "detect",
    "response": "respond",
    "responses": "respond",
    "remediation": "respond",
}
_CATEGORY_RE = re.compile(
    r"(?<![\w-])("
    + "|".join(sorted({**CATEGORY_VERBS, **CATEGORY_NOUNS}, key=len, reverse=True))
    + r")(?![\w-])",
)
_MIN_SCORE_RE = re.compile(
    r"(?<![\w-])(?:(?:at\s+least|min(?:imum)?(?:\s+score)?|>=?)\s*)?(significant|partial|minimal)"
    r"(?:\s*(?:only|and\s+(?:up|above)|or\s+(?:better|higher|above)|\+))?(?![\w-])",
)

_COMPARE_RE = re.compile(
    r"(?<![\w-])(compare|comparison|compared|versus|vs\.?|side[\s-]by[\s-]side|across(?:\s+(?:all\s+)?frameworks)?"
    r"|all\s+(?:the\s+)?frameworks|every\s+framework|each\s+framework|between\s+frameworks"
    r"|which\s+frameworks|what\s+frameworks)(?![\w-])",
)
HELP_WORDS = frozenset(
    {"help", "usage", "commands", "command", "howto", "start", "examples", "example", "man"}
)
GROUP_WORDS = frozenset({"family", "families", "group", "groups", "category", "categories"})
HELP_FILLER = frozenset(
    {"work", "works", "bot", "use", "using", "hi", "hello", "hey", "start", "started", "get"}
)
# Words addressing the bot rather than naming anything: "hey bot,", "@countermap", "bot: T1048",
# "thanks bot".  Left in, "bot" is a VERIS leaf and half of "Saint Bot".
_ADDRESS_RE = re.compile(
    r"(?:^\s*(?:(?:hey|hi|hello|yo|ok|okay|dear|so)\s+)?|(?<![\w-])(?:hey|hi|hello|yo|thanks|thank\s+you|ty)\s+)"
    r"(?:the\s+)?(?:bot|countermap)(?![\w-])\s*[,:!.?]?"
)


# "list of persistence techniques", "list all ...": a request, not the "list" of "Contact List"
# ("list cloud accounts" keeps it: listing accounts is Account Discovery); "best way to",
# "linked to emotet" (not T1676 Linked Devices)
_REQUEST_RE = re.compile(
    r"(?<![\w-])(?:list\s+(?:of|all)|(?:the\s+)?(?:best|easiest|quickest|right)\s+ways?\s+(?:to|of)"
    r"|ways?\s+to|(?:linked|tied)\s+to)(?![\w-])"
)


def address_spans(text: str) -> list[tuple[int, int]]:
    """Where lower-case ``text`` speaks to the bot ("hey bot,") or asks for a list: blanked,
    never matched as names."""
    return [(m.start(), m.end()) for rx in (_ADDRESS_RE, _REQUEST_RE) for m in rx.finditer(text)]


# When it happened and who was seen doing it ("new admin account created at 3am", "someone
# forwarded all mail"): the story around an incident, never part of a name (checked against the
# corpus's names), so not matched as a name's word in a question.
NARRATIVE_WORDS = frozenset(
    """
    yesterday today tonight overnight morning afternoon evening weekend monday tuesday wednesday
    thursday friday saturday sunday ago earlier recently hours minutes seconds
    attacker attackers someone somebody saw seen noticed observed
    """.split()  # noqa: SIM905
)
# How a question about coverage is put ("how well does azure cover lateral movement", "what are
# the gaps in m365 for credential access"): no name of the corpus has them either.
ASKING_WORDS = frozenset(
    """
    well much many good gap gaps exposed matter matters overview summary posture doing ready
    tied attributed
    """.split()  # noqa: SIM905
)
_NOT_SUBJECT = NARRATIVE_WORDS | ASKING_WORDS
_CLOCK_TIME = re.compile(r"\d{1,2}(?:am|pm)|\d{3,4}h")


def narrative(word: str) -> bool:
    """A word telling when, who or how the question is put, not what it is about: ``NARRATIVE_WORDS``,
    ``ASKING_WORDS`` or a clock time ("3am")."""
    if word[:1].isdigit():
        return _CLOCK_TIME.fullmatch(word) is not None
    return word in _NOT_SUBJECT


OFFERINGS_RE = re.compile(r"\s+(?:services|products|offerings|features|solutions)(?![\w-])")
FAMILY_WORDS = frozenset({"family", "families"})  # never part of a name, unlike "Domain Groups"


def framework_spans(text: str) -> list[tuple[int, int, str]]:
    return [
        (m.start(), m.end(), FRAMEWORK_PHRASES[" ".join(m.group(1).lower().replace("_", " ").split())])
        for m in _FRAMEWORK_RE.finditer(text)
    ]


def nist_revision_spans(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), f"rev{m.group(1)}") for m in _NIST_REV_RE.finditer(text)]


def attack_version_spans(text: str) -> list[tuple[int, int, str]]:
    out = []
    for m in _ATTACK_VERSION_RE.finditer(text):
        major, minor = m.group(1), m.group(2)
        if not 1 <= int(major) <= 40:
            continue
        out.append(
            (m.start(), m.end(), f"{int(major)}.{int(minor)}" if minor is not None else str(int(major)))
        )
    return out


def framework_version_spans(text: str) -> list[tuple[int, int, str]]:
    out = [
        (m.start(), m.end(), f"{m.group(1)}/{m.group(2)}/{m.group(3)}")
        for m in _DATE_VERSION_RE.finditer(text)
    ]
    for m in _DOTTED_VERSION_RE.finditer(text):
        version = m.group(1) or m.group(2)
        out.append((m.start(), m.end(), version if version.count(".") == 2 else f"v{version}"))
    return out


def domain_spans(text: str) -> list[tuple[int, int, str]]:
    out = []
    for m in _DOMAIN_RE.finditer(text):
        word = m.group(1).lower()
        out.append((m.start(), m.end(), "ics" if word.startswith("industrial") else DOMAIN_WORDS[word]))
    return out


def category_spans(text: str) -> list[tuple[int, int, str, bool]]:
    """(start, end, category, is_verb)."""
    out = []
    for m in _CATEGORY_RE.finditer(text):
        word = m.group(1).lower()
        if word in CATEGORY_VERBS:
            out.append((m.start(), m.end(), CATEGORY_VERBS[word], True))
        else:
            out.append((m.start(), m.end(), CATEGORY_NOUNS[word], False))
    return out


def min_score_spans(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group(1).lower()) for m in _MIN_SCORE_RE.finditer(text)]


def compare_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _COMPARE_RE.finditer(text)]
