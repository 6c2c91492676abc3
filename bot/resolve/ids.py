"""Finding IDs in free text, in every form people type them.

Each finder returns spans so the caller can blank what it consumed: the words of an ID must
not also be matched as names.  Canonical forms come from ``store.ids``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from store.ids import canonical_capability_id

# T1048, t1048, T1048.003, T1048.3, T1048/003, T1048-003, t 1048
# (explicit [tT] rather than re.I: these three run over the whole of a long paste, and
# case-insensitive matching is several times slower in ``re``)
TECHNIQUE_RE = re.compile(r"(?<![A-Za-z0-9])[tT]\s?(\d{4})(?:\s?[./\-_]\s?(\d{1,3}))?(?![0-9])")
# "technique 1003", "sub-technique 1048.003", "ttp #1059"
TECHNIQUE_WORD_RE = re.compile(
    r"(?<![\w-])(?:sub-?\s?)?(?:technique|tech|ttp)\s*(?:id\s*)?#?\s*(\d{4})(?:\s?[./]\s?(\d{1,3}))?(?![\d.])",
    re.I,
)
TECHNIQUE_HINT_RE = re.compile(r"[tT]\s?\d{4}")
TACTIC_HINT_RE = re.compile(r"[tT][aA]\s?\d{4}")
TWO_LETTERS_RE = re.compile(r"\b[A-Za-z]{2}\b")
CVE_RE = re.compile(
    r"(?<![A-Za-z0-9])[cC][vV][eE]\s?[-_\s]?\s?((?:19|20)\d{2})\s?[-_\s]\s?(\d{4,7})(?![0-9])"
)
NIST_FAMILIES = "AC AT AU CA CM CP IA IR MA MP PE PL PM PS PT RA SA SC SI SR".split()  # noqa: SIM905
NIST_RE = re.compile(
    r"(?<![\w.&\-/])("
    + "|".join(NIST_FAMILIES)
    + r")(\s?-?\s?)0?(\d{1,2})(?:\s?\(\s?(\d{1,2})\s?\))?(?![\w&]|\.\d|-\d)",
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
TACTIC_ID_RE = re.compile(r"(?<![A-Za-z0-9])[tT][aA]\s?(\d{4})(?![0-9])")

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

    "sc7", "SC-7", "sc-07", "SC 7", "AC-2(1)".  A bare space between a lower-case family and
    a number ("at 3") is too common in prose, so it only counts when the family is upper-case.
    """
    for m in NIST_RE.finditer(text):
        family, sep, number, enhancement = m.groups()
        if "-" not in sep and sep.strip() == "" and sep and not family.isupper():
            continue
        if int(number) == 0:
            continue
        base = canonical_capability_id("nist_800_53", f"{family}-{number}")
        yield m.start(), m.end(), base, enhancement, family.isupper() or "-" in sep
