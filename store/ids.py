"""Canonical forms of capability and ATT&CK IDs.

The data writes one control several ways (NIST ``SC-7`` up to ATT&CK 12.1, ``SC-07`` from 14.1;
VERIS paths in mixed case).  Everything that compares IDs — ingest, the resolver, queries —
goes through these functions so that one control has one key.  The form as written is kept
separately wherever it is stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "attack_id_or_none",
    "canonical_attack_id",
    "canonical_capability_id",
    "is_attack_id",
    "nearest_capability_ids",
    "nearest_technique_ids",
    "nist_family",
]

# NIST 800-53: two-letter family, number, optional enhancement written "(1)", ".1" or " 1".
_NIST = re.compile(
    r"^([A-Za-z]{2})\s*[-_ ]?\s*0*(\d{1,3})\s*(?:(?:\(\s*0*(\d{1,3})\s*\))|(?:[.\s]\s*0*(\d{1,3})))?$"
)
# CRI Profile: GV.OC-01 or GV.OC-01.01 (function.category-subcategory.diagnostic).
_CRI = re.compile(r"^([A-Za-z]{2})\s*\.\s*([A-Za-z]{2})\s*-\s*0*(\d{1,3})(?:\s*\.\s*0*(\d{1,3}))?$")
# CSA CCM: A&A-01, AIS-1, DSP-07.
_CCM = re.compile(r"^([A-Za-z&]{2,4})\s*-\s*0*(\d{1,3})$")
_CVE = re.compile(r"^cve\s*-\s*(\d{4})\s*-\s*(\d{4,})$", re.IGNORECASE)
_SPACE = re.compile(r"\s+")

_LOWER_CASE_FRAMEWORKS = frozenset({"aws", "azure", "gcp", "intel-vpro", "veris"})
_UPPER_CASE_FRAMEWORKS = frozenset({"m365", "kev"})


def _squash(raw: str) -> str:
    return _SPACE.sub(" ", raw).strip()


def canonical_capability_id(framework: str, raw: str) -> str:
    """The one key a capability has inside its framework.

    NIST ``sc7``/``SC-7``/``SC-07`` → ``SC-07`` (enhancements ``AC-2(1)`` → ``AC-02(01)``);
    CRI ``gv.oc-1.1`` → ``GV.OC-01.01``; CSA CCM ``a&a-1`` → ``A&A-01``; KEV → upper-case CVE;
    M365 upper-case; AWS/Azure/GCP/Intel vPro/VERIS lower-case (VERIS writes one path in
    several cases).  Unknown frameworks only get whitespace squashed.
    """
    text = _squash(raw)
    if not text:
        return text
    if framework == "nist_800_53":
        m = _NIST.match(text)
        if m:
            family, number, enh_paren, enh_dot = m.groups()
            enhancement = enh_paren or enh_dot
            base = f"{family.upper()}-{int(number):02d}"
            return f"{base}({int(enhancement):02d})" if enhancement else base
        return text.upper()
    if framework == "cri_profile":
        m = _CRI.match(text)
        if m:
            fn, cat, sub, diag = m.groups()
            base = f"{fn.upper()}.{cat.upper()}-{int(sub):02d}"
            return f"{base}.{int(diag):02d}" if diag else base
        return text.upper()
    if framework == "csa_ccm":
        m = _CCM.match(text)
        if m:
            return f"{m.group(1).upper()}-{int(m.group(2)):02d}"
        return text.upper()
    if framework == "kev":
        m = _CVE.match(text)
        return f"CVE-{m.group(1)}-{m.group(2)}" if m else text.upper()
    if framework in _UPPER_CASE_FRAMEWORKS:
        return text.upper()
    if framework in _LOWER_CASE_FRAMEWORKS:
        return text.lower()
    return text


def nist_family(capability_id: str) -> str | None:
    """``SC-07`` → ``SC``; None when the ID is not shaped like a NIST control."""
    m = _NIST.match(_squash(capability_id))
    return m.group(1).upper() if m else None


# T1048, T1048.003 (also "t1048/3"), TA0010, M1037, S0001, G0001, C0001, DS0001.
_ATTACK = re.compile(r"^(TA|DS|T|M|S|G|C)\s*(\d{4})(?:\s*[./]\s*(\d{1,3}))?$", re.IGNORECASE)


def canonical_attack_id(raw: str) -> str:
    """``t1048.3`` → ``T1048.003``.  Raises ``ValueError`` when ``raw`` is not an ATT&CK ID."""
    m = _ATTACK.match(raw.strip())
    if not m:
        raise ValueError(f"not an ATT&CK ID: {raw!r}")
    prefix, number, sub = m.groups()
    prefix = prefix.upper()
    if sub is not None:
        if prefix != "T":
            raise ValueError(f"only techniques have sub-techniques: {raw!r}")
        return f"T{number}.{int(sub):03d}"
    return f"{prefix}{number}"


def is_attack_id(raw: str) -> bool:
    return _ATTACK.match(raw.strip()) is not None


def attack_id_or_none(raw: str | None) -> str | None:
    """Canonical form when ``raw`` is an ATT&CK ID, else None (for data that may hold anything)."""
    if raw is None:
        return None
    try:
        return canonical_attack_id(raw)
    except ValueError:
        return None


def _technique_number(attack_id: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"T(\d{4})(?:\.(\d{3}))?", attack_id)
    return (int(m.group(1)), int(m.group(2) or 0)) if m else None


def nearest_technique_ids(known: Iterable[str], attack_id: str, limit: int = 5) -> list[str]:
    """The technique IDs of ``known`` nearest to one that does not exist, for "did you mean".

    A missing sub-technique (``T1048.009``) is nearest its parent and the parent's real
    sub-techniques; a missing technique (``T9999``, ``T1049x``) the IDs numerically closest,
    then those that differ from it by one character (a typo)."""
    target = _technique_number(attack_id)
    ids = sorted({k for k in known if _technique_number(k) is not None})
    if target is None or not ids:
        return []
    number, sub = target
    if sub:
        parent = f"T{number:04d}"
        family = [k for k in ids if k == parent or k.startswith(parent + ".")]
        if family:
            family.sort(key=lambda k: (k != parent, k))
            return family[:limit]
    tops = [k for k in ids if "." not in k]

    def distance(k: str) -> tuple[int, int, str]:
        n = (_technique_number(k) or (0, 0))[0]
        typo = sum(a != b for a, b in zip(k, f"T{number:04d}", strict=False)) > 1
        return (typo, abs(n - number), k)

    return sorted(tops, key=distance)[:limit]


def _id_parts(capability_id: str) -> tuple[str, int] | None:
    """``SC-07`` → ("SC-", 7), ``GV.OC-01`` → ("GV.OC-", 1): the prefix and the last number."""
    m = re.fullmatch(r"(.*?)(\d+)", capability_id)
    return (m.group(1).upper(), int(m.group(2))) if m else None


def nearest_capability_ids(known: Iterable[str], capability_id: str, limit: int = 5) -> list[str]:
    """The IDs of ``known`` (one framework's controls) nearest to one it does not have, for "did
    you mean": same prefix (``SC-99`` → the SC family) numerically closest; without a number or a
    prefix in common, none (a name is matched by the resolver's text search instead)."""
    target = _id_parts(capability_id)
    if target is None:
        return []
    prefix, number = target
    same = [(k, p[1]) for k in known if (p := _id_parts(k)) is not None and p[0] == prefix]
    same.sort(key=lambda kn: (abs(kn[1] - number), kn[0]))
    return [k for k, _ in same[:limit]]
