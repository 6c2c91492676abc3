"""Which releases are loaded, and which of them a question's filters pick."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from store.models import (
    Release,
)
from store.reads.fast import Source, _iso, _json, _q
from store.views import Filters, ReleaseRef

NON_MAPPABLE = "non_mappable"
NO_FILTERS = Filters()
MAX_CLOSEST = 8


@dataclass(frozen=True)
class ReleaseInfo:
    pk: int
    ref: ReleaseRef
    mapping_types: dict[str, Any]
    capability_groups: dict[str, Any]
    mapping_count: int
    non_mappable_count: int

    def type_label(self, mapping_type: str) -> str:
        declared = self.mapping_types.get(mapping_type)
        name = str(declared["name"]) if isinstance(declared, dict) and declared.get("name") else mapping_type
        # Some files declare the key itself ("primary_impact", "related-to"): make it readable.
        if name == name.lower():
            name = re.sub(r"[_-]+", " ", name).strip().capitalize()
        return name


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text))


def version_key(framework_version: str) -> tuple[int, ...]:
    """Orders ``rev4 < rev5``, ``1.3.7 < 1.4.0`` and dates written ``MM/DD/YYYY``."""
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", framework_version.strip())
    if m:
        return (int(m[3]), int(m[1]), int(m[2]))
    return _numbers(framework_version)


def release_key(ref: ReleaseRef) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Newest first when sorted descending: ATT&CK version, then the framework's own version."""
    return (_numbers(ref.attack_version), version_key(ref.framework_version))


_RELEASES = select(
    Release.id,
    Release.framework,
    Release.framework_version,
    Release.attack_version,
    Release.domain,
    Release.last_update,
    Release.mapping_version,
    _json(Release.mapping_types),
    _json(Release.capability_groups),
    Release.mapping_count,
    Release.non_mappable_count,
)


def read_releases(session: Source) -> list[ReleaseInfo]:
    """Every release, newest first, as stored now (reads use ``store.reads.static``, which
    reads this once per data version)."""
    rows = _q(session, _RELEASES)
    out = [
        ReleaseInfo(
            pk=r.id,
            ref=ReleaseRef(
                framework=r.framework,
                framework_version=r.framework_version,
                attack_version=r.attack_version,
                domain=r.domain,
                last_update=_iso(r.last_update),
                mapping_version=r.mapping_version or None,
            ),
            mapping_types=r.mapping_types or {},
            capability_groups=r.capability_groups or {},
            mapping_count=r.mapping_count or 0,
            non_mappable_count=r.non_mappable_count or 0,
        )
        for r in rows
    ]
    out.sort(key=lambda i: release_key(i.ref), reverse=True)
    return out


def _matches(info: ReleaseInfo, filters: Filters, domain: str | None) -> bool:
    ref = info.ref
    if domain and ref.domain != domain:
        return False
    if filters.framework_version and ref.framework_version.lower() != filters.framework_version.lower():
        return False
    return not (filters.attack_version and ref.attack_version != filters.attack_version)


def pick_releases(
    releases: Sequence[ReleaseInfo], frameworks: Iterable[str], filters: Filters, domain: str | None
) -> dict[str, ReleaseInfo]:
    """The newest release per framework in ``domain`` that the filters allow."""
    wanted = list(frameworks)
    chosen: dict[str, ReleaseInfo] = {}
    for info in releases:  # newest first
        fw = info.ref.framework
        if fw in wanted and fw not in chosen and _matches(info, filters, domain):
            chosen[fw] = info
    return {fw: chosen[fw] for fw in wanted if fw in chosen}


# --------------------------------------------------------------------------- text helpers
