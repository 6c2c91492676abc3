"""Every control's technique set per release, held in memory per data version.

Coverage, gap and "yours" answers intersect an inventory with the mappings of tens of techniques
across a release per framework: read from the database each time, that is thousands of rows per
answer (a 60-technique actor: ~200 ms on a loaded machine, the bare select alone as slow).  The
mapping data changes only when a release is loaded, so each release's control → techniques map is
read once (one select per release, on first use) and kept until the data version changes.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.coverage_views import ControlTechniques, ReleaseFacts
from store.models import Capability, Mapping
from store.reads.coverage import _complete, all_releases, all_technique_names
from store.reads.data_version import data_version

Key = tuple[str, str]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Release:
    controls: dict[Key, frozenset[str]]
    names: dict[Key, str]


class _Index:
    def __init__(self) -> None:
        self.version: tuple[str, str] | None = None
        self.releases: dict[int, _Release] = {}
        self.whole: dict[str, Any] = {}  # reads of every row of a table, by what they hold
        self.lock = threading.Lock()

    def reset_if_stale(self, version: tuple[str, str]) -> None:
        """Drop everything read for another data version (the caller holds the lock)."""
        if self.version != version:
            self.version, self.releases, self.whole = version, {}, {}


_INDEXES: dict[str, _Index] = {}  # by database URL
_GUARD = threading.Lock()


def _load(session: Session, release_pk: int) -> _Release:
    grouped: dict[Key, set[str]] = defaultdict(set)
    rows = session.execute(
        _complete(
            select(Mapping.framework, Mapping.capability_id, Mapping.attack_id).where(
                Mapping.release_id == release_pk
            )
        )
    )
    for fw, cid, tid in rows:
        grouped[(fw, cid)].add(tid)
    names: dict[Key, str] = {}
    frameworks = {fw for fw, _ in grouped}
    if frameworks:
        for fw, cid, name in session.execute(
            select(Capability.framework, Capability.capability_id, Capability.name).where(
                Capability.framework.in_(sorted(frameworks))
            )
        ):
            if (fw, cid) in grouped:
                names[(fw, cid)] = (name or "").strip()
    return _Release({k: frozenset(v) for k, v in grouped.items()}, names)


class CoverageSnapshot:
    """The coverage index as of one data version, for the reads of one answer.

    The data version is read once, when the snapshot is taken; every read after it is in memory
    but for a release, the names or the technique names read the first time a version needs them.
    """

    def __init__(self, session: Session) -> None:
        url = str(session.get_bind().engine.url)
        with _GUARD:
            self._index = _INDEXES.setdefault(url, _Index())
        self._session = session
        self._version = (url, data_version(session))

    def _releases(self, release_pks: Collection[int]) -> list[_Release]:
        index = self._index
        with index.lock:
            index.reset_if_stale(self._version)
            missing = [pk for pk in release_pks if pk not in index.releases]
        loaded = {pk: _load(self._session, pk) for pk in missing}
        with index.lock:
            if index.version == self._version:
                index.releases.update(loaded)
            return [index.releases.get(pk) or loaded[pk] for pk in release_pks]

    def _whole(self, what: str, load: Callable[[Session], T]) -> T:
        """A read of a whole table, made once per data version and shared by every snapshot."""
        index = self._index
        with index.lock:
            index.reset_if_stale(self._version)
            found = index.whole.get(what)
        if found is None:
            found = load(self._session)
            with index.lock:
                if index.version == self._version:
                    index.whole[what] = found
        return cast(T, found)

    def all_releases(self) -> list[ReleaseFacts]:
        """Every release, newest first (``store.reads.coverage.all_releases``)."""
        return list(self._whole("releases", all_releases))

    def technique_counts(self, release_pk: int) -> dict[Key, int]:
        """How many distinct techniques each control of a release maps."""
        (rel,) = self._releases([release_pk])
        return {k: len(v) for k, v in rel.controls.items()}

    def techniques_of_control(self, release_pk: int, framework: str, capability_id: str) -> frozenset[str]:
        (rel,) = self._releases([release_pk])
        return rel.controls.get((framework, capability_id), frozenset())

    def controls_mapping(
        self, release_pks: Collection[int], technique_ids: Collection[str]
    ) -> list[ControlTechniques]:
        """What ``store.reads.coverage.controls_mapping`` returns: every control of these releases
        with the techniques of ``technique_ids`` it maps, in key order."""
        wanted = frozenset(technique_ids)
        found: dict[Key, frozenset[str]] = {}
        names: dict[Key, str] = {}
        for rel in self._releases(release_pks):
            for key, techniques in rel.controls.items():
                hits = techniques & wanted
                if hits:
                    before = found.get(key)
                    found[key] = hits if before is None else before | hits
                    names.setdefault(key, rel.names.get(key, ""))
        return [ControlTechniques(k[0], k[1], names[k], found[k]) for k in sorted(found)]

    def control_names(self, keys: Collection[Key]) -> dict[Key, str]:
        """Names of controls (every capability of the loaded data, read once per data version)."""
        names = self._whole("control names", _all_control_names)
        return {k: names[k] for k in keys if k in names}

    def technique_names(self, ids: Collection[str]) -> dict[str, str]:
        """``store.reads.coverage.technique_names``: every technique's name read once per version."""
        names = self._whole("technique names", all_technique_names)
        return {k: names[k] for k in sorted(set(ids)) if k in names}


def _all_control_names(session: Session) -> dict[Key, str]:
    return {
        (fw, cid): (name or "").strip()
        for fw, cid, name in session.execute(
            select(Capability.framework, Capability.capability_id, Capability.name)
        )
    }


def coverage_snapshot(session: Session) -> CoverageSnapshot:
    """The coverage index as of the data version the session sees now."""
    return CoverageSnapshot(session)
