"""Capability description lists (``[{"id", "description"}]``) and which framework each is for.

The lists carry no metadata, so the framework is read from the IDs themselves: CVE IDs are
KEV, ``GV.OC-01``-style IDs the CRI Profile, two-letter families NIST 800-53 (rev5 when a
rev5-only family such as PT or SR is present), three-letter/``A&A`` families CSA CCM.  Lists
that fit none of these are matched against the capability IDs already known per framework.
The file name is only a tie-break hint (NIST rev, KEV catalogue date).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from store.ids import canonical_capability_id, nist_family
from store.ingest.errors import FileProblem
from store.text import html_to_text

__all__ = ["DescriptionData", "attribute_descriptions", "parse_description_list"]

_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$", re.IGNORECASE)
_CRI = re.compile(r"^[A-Z]{2}\.[A-Z]{2}-\d{1,2}(?:\.\d{1,2})?$", re.IGNORECASE)
_CCM = re.compile(r"^(?:[A-Z]{3}|A&A)-\d{1,2}$", re.IGNORECASE)
_REV5_ONLY_FAMILIES = frozenset({"PT", "SR"})
_REV_HINT = re.compile(r"rev[-_ ]?([45])", re.IGNORECASE)
_DATE_HINT = re.compile(r"(\d{2})[._-](\d{2})[._-](\d{4})")
_VERSION_HINT = re.compile(r"v(\d+(?:\.\d+)*)", re.IGNORECASE)


@dataclass
class DescriptionData:
    ids: list[str]  # as written, blanks removed
    descriptions: list[str]
    skipped_blank: int
    framework: str | None = None
    framework_version: str | None = None

    @property
    def source(self) -> str:
        return f"{self.framework}/{self.framework_version}" if self.framework_version else str(self.framework)

    def rows(self, sha256: str) -> list[dict[str, Any]]:
        assert self.framework is not None
        return [
            {
                "source": self.source,
                "framework": self.framework,
                "framework_version": self.framework_version,
                "position": i,
                "capability_id": canonical_capability_id(self.framework, raw),
                "id_as_written": raw,
                "description": desc,
                "sha256": sha256,
            }
            for i, (raw, desc) in enumerate(zip(self.ids, self.descriptions, strict=True))
        ]


def parse_description_list(document: list[Any]) -> DescriptionData:
    ids: list[str] = []
    descriptions: list[str] = []
    blank = 0
    for i, item in enumerate(document):
        if not isinstance(item, dict):
            raise FileProblem(f"[{i}]", "not an object with id and description")
        cid, desc = item.get("id"), item.get("description")
        if cid is None or (isinstance(cid, str) and not cid.strip()):
            # The NIST rev5 list ends with {"id": null, "description": ""}: nothing to keep.
            if desc in (None, ""):
                blank += 1
                continue
            raise FileProblem(f"[{i}].id", "missing, but the entry has a description")
        if not isinstance(cid, str):
            raise FileProblem(f"[{i}].id", f"must be a string, not {type(cid).__name__}")
        if len(cid) > 200:
            raise FileProblem(f"[{i}].id", "longer than 200 characters")
        if desc is None:
            desc = ""
        if not isinstance(desc, str):
            raise FileProblem(f"[{i}].description", f"must be a string, not {type(desc).__name__}")
        ids.append(cid)
        # NIST rev5 and some KEV entries are HTML: stored as plain text (links as [label](url)).
        descriptions.append(html_to_text(desc))
    if not ids:
        raise FileProblem("(top level)", "a description list without a single ID")
    return DescriptionData(ids, descriptions, blank)


def attribute_descriptions(
    data: DescriptionData, name_hint: str, known_ids: Callable[[], Mapping[str, set[str]]]
) -> None:
    """Set ``framework`` and ``framework_version`` from the IDs; ``known_ids()`` gives
    framework → canonical capability IDs already known (database and this run), and is only
    called for lists that no ID pattern recognises."""
    ids = [i.strip() for i in data.ids]
    if all(_CVE.match(i) for i in ids):
        m = _DATE_HINT.search(name_hint)
        data.framework = "kev"
        data.framework_version = f"{m.group(1)}/{m.group(2)}/{m.group(3)}" if m else None
        return
    if all(_CRI.match(i) for i in ids):
        m = _VERSION_HINT.search(name_hint)
        data.framework = "cri_profile"
        data.framework_version = f"v{m.group(1)}" if m else None
        return
    if all(_CCM.match(i) for i in ids) and any(not nist_family(i) for i in ids):
        m = _VERSION_HINT.search(name_hint)
        data.framework = "csa_ccm"
        data.framework_version = f"v{m.group(1)}" if m else None
        return
    families = {nist_family(i) for i in ids}
    if None not in families:
        data.framework = "nist_800_53"
        if _REV5_ONLY_FAMILIES & families:
            data.framework_version = "rev5"
        else:
            m = _REV_HINT.search(name_hint)
            data.framework_version = f"rev{m.group(1)}" if m else "rev4"
        return
    best, share = None, 0.0
    for framework, known in known_ids().items():
        if not known:
            continue
        hits = sum(1 for i in ids if canonical_capability_id(framework, i) in known)
        if hits / len(ids) > share:
            best, share = framework, hits / len(ids)
    if best is None or share < 0.5:
        raise FileProblem(
            "(top level)",
            "a description list whose IDs match no known framework "
            "(expected CVE IDs, NIST controls, CRI Profile or CSA CCM IDs, or IDs of a loaded release)",
        )
    data.framework = best
    data.framework_version = None
