"""Your controls on every answer: "✓ yours: SC-07, amazon_guardduty" on a technique, "your controls
cover 41 of 63 techniques" with the gaps and what to add on a CVE, an actor or a tactic.

An answer's view says which techniques it is about (``answer_subject``); the inventory that applies
(the channel's own, else the workspace's) is checked against them with the gap report's arithmetic.
Without an inventory nothing here runs, so answers cost what they did before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol, get_args, runtime_checkable

from bot.coverage.service import gap_report
from bot.coverage.views import GapReport, Subject, SubjectKind
from store.db import Engine
from store.reads.scope import reads
from store.state.inventory import Inventory
from store.views import CveView, TechniqueView

_SUBJECT_KINDS: frozenset[str] = frozenset(get_args(SubjectKind))


@runtime_checkable
class CoversTechniques(Protocol):
    """A view about a set of techniques (an actor's, a software's, a campaign's, a tactic's):
    what "your controls cover N of M" is computed over."""

    @property
    def coverage_subject(self) -> tuple[str, str, str]: ...  # (kind, ID, name)

    @property
    def coverage_techniques(self) -> tuple[str, ...]: ...

    @property
    def coverage_domain(self) -> str: ...


def answer_subject(view: object) -> tuple[Subject, tuple[str, ...], str] | None:
    """(subject, techniques, domain) for views that are about techniques; None otherwise."""
    if isinstance(view, TechniqueView):
        h = view.header
        return Subject("technique", h.id, h.name), (h.id,), h.domain
    if isinstance(view, CveView):
        ids = tuple(dict.fromkeys(t.technique.id for t in view.techniques))
        return (Subject("cve", view.cve.id, view.cve.name), ids, "enterprise") if ids else None
    if isinstance(view, CoversTechniques):
        kind, sid, name = view.coverage_subject
        ids = tuple(dict.fromkeys(view.coverage_techniques))
        if not ids:
            return None
        subject_kind: SubjectKind = kind if kind in _SUBJECT_KINDS else "techniques"  # type: ignore[assignment]
        return Subject(subject_kind, sid, name), ids, view.coverage_domain
    return None


class YoursCache:
    """Recent coverage lines, per data version and inventory version: the same answer in the same
    channel is not recomputed until the data or the inventory changes."""

    def __init__(self, engine: Engine, size: int = 1024) -> None:
        self.engine = engine
        self.size = size
        self._entries: OrderedDict[tuple[object, ...], GapReport | None] = OrderedDict()
        self._lock = threading.Lock()

    def report(
        self, view: object, inventory: Inventory, *, data_version: str | None, frameworks: Sequence[str] = ()
    ) -> GapReport | None:
        found = answer_subject(view)
        if found is None or not inventory.controls:
            return None
        subject, techniques, domain = found
        key = (
            data_version,
            inventory.controls,  # the contents, not only the version: two answerers may share one cache
            subject,
            techniques,
            domain,
        )
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        with reads(self.engine) as data:
            made = gap_report(data, subject, techniques, inventory, domain=domain, frameworks=frameworks)
        if data_version is not None:
            with self._lock:
                self._entries[key] = made
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return made

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
