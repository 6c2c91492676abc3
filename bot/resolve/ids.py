"""Finding IDs in free text, in every form people type them.

Each finder returns spans so the caller can blank what it consumed: the words of an ID must
not also be matched as names.  Canonical forms come from ``store.ids``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from store.ids import canonical_capability_id

# How IDs are typed: between an ID's letters and its number nothing, a space, a hyphen, an
# underscore or a hash ("T1490", "t 1490", "t-1490", "TA_0010", "g#0016"); between a technique
# and its sub-technique a dot, slash, hyphen or underscore, or a single space before exactly
# three digits ("T1110-003", "T1059 001").  One definition for every ATT&CK ID pattern.
LEAD = r"\s?[-_#]?\s?"
ID_SEPARATORS = " -_#"
SUB = r"(?:\s?[./\-_]\s?(\d{1,3})|\s(\d{3}))?"
# T1048, t1048, T1048.003, T1048.3, T1048/003, T1048-003, t 1048, t-1490, T1059 001
# (explicit [tT] rather than re.I: these three run over the whole of a long paste, and
# case-insensitive matching is several times slower in ``re``)
TECHNIQUE_RE = re.compile(r"(?<![A-Za-z0-9])[tT]" + LEAD + r"(\d{4})" + SUB + r"(?![0-9])")
# "1218.011" with no T: a technique only when it exists and nothing else in the text is one
BARE_TECHNIQUE_RE = re.compile(r"(?<![\w.\-/:#])(\d{4})\s?[./]\s?(\d{3})(?![\w.\-/])")
BARE_NUMBER_RE = re.compile(r"^\W*(\d{4})\W*$")
# "technique 1003", "sub-technique 1048.003", "ttp #1059"
TECHNIQUE_WORD_RE = re.compile(
    r"(?<![\w-])(?:sub-?\s?)?(?:technique|tech|ttp)\s*(?:id\s*)?#?\s*(\d{4})(?:\s?[./]\s?(\d{1,3}))?(?![\d.])",
    re.I,
)
TECHNIQUE_HINT_RE = re.compile(r"[tT]" + LEAD + r"\d{4}")
TACTIC_HINT_RE = re.compile(r"[tT][aA]" + LEAD + r"\d{4}")
TWO_LETTERS_RE = re.compile(r"\b[A-Za-z]{2}\b")
CVE_RE = re.compile(
    r"(?<![A-Za-z0-9])[cC][vV][eE]\s?[-_\s]?\s?((?:19|20)\d{2})\s?[-_\s]\s?(\d{4,7})(?![0-9])"
)
NIST_FAMILIES = "AC AT AU CA CM CP IA IR MA MP PE PL PM PS PT RA SA SC SI SR".split()  # noqa: SIM905
NIST_RE = re.compile(
    r"(?<![\w.&\-/])("
    + "|".join(NIST_FAMILIES)
    + r")(\s?[-_.]?\s?)0?(\d{1,2})(?:\s?\(\s?(\d{1,2})\s?\))?(?![\w&]|\.\d|-\d)",
    re.I,
)
CRI_RE = re.compile(
    r"(?<![\w.])(gv|id|pr|de|rs|rc|ex)\s?\.\s?([a-z]{2})(?:\s?-\s?(\d{1,2})(?:\s?\.\s?(\d{1,2}))?)?(?![\w])",
    re.I,
)
CSA_DOMAINS = "A&A AIS BCR CCC CEK DCS DSP GRC HRS IAM IPY IVS LOG SEF STA TVM UEM".split()  # noqa: SIM905
CSA_RE = re.compile(
    r"(?<![\w&])(" + "|".join(re.escape(d) for d in CSA_DOMAINS) + r")\s?-\s?(\d{1,2})(?![\d\w])", re.I
)
M365_RE = re.compile(r"(?<![\w-])(def|eid|eop|pur)-([a-z]{2,6})(?:-(e3|e5))?(?![\w-])", re.I)
ID_TOKEN_RE = re.compile(r"(?<![\w.\-])([a-z0-9]+(?:[_\-][a-z0-9]+)+)(?![\w\-])", re.I)
VERIS_START_RE = re.compile(r"(?<![\w.])(action|actor|attribute|asset|value_chain|discovery_method)\.", re.I)
WORD_RE = re.compile(r"(?<![\w.\-])[A-Za-z][A-Za-z0-9]+(?![\w\-])")
URL_RE = re.compile(r"https?://[^\s<>\"']{1,2000}", re.I)
TACTIC_ID_RE = re.compile(r"(?<![A-Za-z0-9])[tT][aA]" + LEAD + r"(\d{4})(?![0-9])")
# M1037, m-1037: an ATT&CK mitigation (a separator only when it exists, checked by the caller)
MITIGATION_ID_RE = re.compile(r"(?<![\w.\-/&])[mM][-_#]?(\d{4})(?![\w\-]|\.\d)")
MITIGATION_HINT_RE = re.compile(r"[mM][-_#]?\d{4}")  # a tenth of the full pattern's time on long text

# Mappings Explorer project slugs (in its URLs) → framework keys of the data
EXPLORER_PROJECTS = {
    "nist": "nist_800_53",
    "nist_800_53": "nist_800_53",
    "m365": "m365",
    "aws": "aws",
    "azure": "azure",
    "gcp": "gcp",
    "veris": "veris",
    "kev": "kev",
    "cri": "cri_profile",
    "cri_profile": "cri_profile",
    "cri-profile": "cri_profile",
    "intel-vpro": "intel-vpro",
    "intel": "intel-vpro",
    "csa": "csa_ccm",
    "csa_ccm": "csa_ccm",
    "ccm": "csa_ccm",
    "intel_vpro": "intel-vpro",
}


def technique_id(number: str, sub: str | None) -> str:
    return f"T{number}.{int(sub):03d}" if sub else f"T{number}"


@dataclass(frozen=True)
class UrlFacts:
    technique: str | None = None
    framework: str | None = None
    capability: str | None = None  # as in the URL, not yet canonical
    attack_version: str | None = None
    framework_version: str | None = None


def read_url(url: str) -> UrlFacts:
    """What an ATT&CK or Mappings Explorer URL points at (the most specific technique wins)."""
    technique = None
    for m in TECHNIQUE_RE.finditer(url):
        candidate = technique_id(m.group(1), m.group(2))
        if technique is None or len(candidate) >= len(technique):
            technique = candidate
    framework = capability = attack_version = framework_version = None
    if "mappings-explorer" in url.lower():
        parts = [p for p in re.split(r"[/?#]", url.split("://", 1)[-1]) if p]
        lowered = [p.lower() for p in parts]
        if "external" in lowered:
            i = lowered.index("external")
            if i + 1 < len(parts):
                framework = EXPLORER_PROJECTS.get(lowered[i + 1])
            tail = parts[i + 2 :]
            meta = re.compile(
                r"(attack-\d|domain-|[a-z_-]*-?rev\d|[a-z_-]+-\d{2}\.\d{2}\.\d{4}|[a-z_-]+-v?\d+\.\d)", re.I
            )
            rest = [p for p in tail if not meta.match(p) and p.lower() not in ("index.html", "all-data")]
            if rest and technique is None:
                capability = rest[-1].removesuffix(".html")
        for p in lowered:
            av = re.fullmatch(r"attack-(\d{1,2}\.\d{1,2})", p)
            if av:
                attack_version = av.group(1)
            fv = re.fullmatch(r"nist-(rev[45])", p)
            if fv:
                framework_version = fv.group(1)
            dated = re.fullmatch(r"[a-z0-9_-]+-(\d{2})\.(\d{2})\.(\d{4})", p)  # m365-07.18.2025
            if dated:
                framework_version = "/".join(dated.groups())
            versioned = re.fullmatch(r"(?:veris|cri_profile|csa_ccm)-(v?\d+(?:\.\d+)+)", p)  # veris-1.4.0
            if versioned:
                framework_version = versioned.group(1)
    else:
        v = re.search(r"attack\.mitre\.org/versions/v(\d{1,2})", url, re.I)
        if v:
            attack_version = v.group(1)
    return UrlFacts(technique, framework, capability, attack_version, framework_version)


def nist_matches(text: str) -> Iterator[tuple[int, int, str, str | None, bool]]:
    """(start, end, canonical base ID, enhancement or None, strong) for NIST control IDs.

    "sc7", "SC-7", "sc-07", "SC 7", "sc 7", "sc_7", "AC-2(1)".  Upper case or a separator makes
    the match strong; a lower-case family and a number apart ("sc 7") is weak (it counts only if
    the control exists), and a family that is an English word ("at 3") never reads that way.
    """
    for m in NIST_RE.finditer(text):
        family, sep, number, enhancement = m.groups()
        punctuated = bool(sep.strip())
        if sep and not punctuated and not family.isupper() and family.lower() in PROSE_FAMILIES:
            continue
        if int(number) == 0:
            continue
        base = canonical_capability_id("nist_800_53", f"{family}-{number}")
        yield m.start(), m.end(), base, enhancement, family.isupper() or punctuated


PROSE_FAMILIES = frozenset({"at", "pm"})  # "at 3", "pm 2" are prose
