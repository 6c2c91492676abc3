"""The read handles bot holds: one consistent read of the mapping data, a method per question.

``with reads(engine) as data:`` opens one read transaction; ``data.all_releases()``,
``data.threat_by_id("G0016")`` ... answer from it (the functions in ``store.reads``, bound to it).
``with view_reads(engine, static) as data: data.view(request)`` is the answer path's: the same
on a pooled connection without an ORM session (``store.reads.fast``).  Bot code asks its
questions through these handles and never sees the session or cursor under them.  The bot's own
state (digests, subscriptions, inventories) adds its questions in ``store.state.scope``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from store.coverage_views import MappingFact, ReleaseFacts, TacticFacts
from store.db import session_scope
from store.reads import coverage as _coverage
from store.reads.attack_objects import attack_object_techniques
from store.reads.card_names import CardName, card_names
from store.reads.controls import KnownControl, known_controls
from store.reads.coverage_index import CoverageSnapshot, coverage_snapshot
from store.reads.data_version import data_version
from store.reads.dispatch import build_view
from store.reads.fast import Reader
from store.reads.ranking import ranked_for_card, release_breadth
from store.reads.resolver_source import IndexSource, source_from_session
from store.reads.static import StaticInfo, load_static, reading, static
from store.reads.subjects import unknown_subjects
from store.reads.threats import threat_by_id
from store.reads.used_by import prime_used_by
from store.views import NotLoaded, TechniqueView, ViewRequest

if TYPE_CHECKING:
    from store.attack_views import AttackObjectRef
    from store.reads.changes import LastChange
    from store.threat_views import AnyView, ThreatView


class Reads:
    """One read transaction of the mapping data, asked through methods named by the question."""

    __slots__ = ("_session",)

    def __init__(self, session: Session) -> None:
        self._session = session

    # ------------------------------------------------------------------ the data as a whole

    def data_version(self) -> str:
        """A fingerprint of the loaded data: it changes whenever ingest or sync loads something."""
        return data_version(self._session)

    def resolver_source(self) -> IndexSource:
        """Every row the resolver indexes (techniques, capabilities, threats, names)."""
        return source_from_session(self._session)

    def load_static(self) -> StaticInfo:
        """The releases, tactics and technique catalogue as they are now, read afresh."""
        return load_static(self._session)

    def static(self) -> StaticInfo:
        """The same facts, read once per transaction."""
        return static(self._session)

    def prime_used_by(self, info: StaticInfo) -> None:
        """Read the "used by" table every technique answer shows, for the data version of ``info``."""
        prime_used_by(self._session, info)

    def known_controls(self) -> list[KnownControl]:
        """Every control ID of every loaded framework, with its name."""
        return known_controls(self._session)

    def card_names(self) -> tuple[CardName, ...]:
        """Groups, software and campaigns with their names and aliases."""
        return card_names(self._session)

    # ------------------------------------------------------------------ coverage facts

    def coverage_snapshot(self) -> CoverageSnapshot:
        """The in-memory coverage index as of the data version this read sees."""
        return coverage_snapshot(self._session)

    def all_releases(self) -> list[ReleaseFacts]:
        return _coverage.all_releases(self._session)

    def control_names(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        return _coverage.control_names(self._session, keys)

    def techniques_of_control(self, release_pk: int, framework: str, capability_id: str) -> frozenset[str]:
        return _coverage.techniques_of_control(self._session, release_pk, framework, capability_id)

    def technique_names(self, ids: Collection[str]) -> dict[str, str]:
        return _coverage.technique_names(self._session, ids)

    def technique_family(self, technique_id: str) -> list[str]:
        """A technique and its sub-techniques."""
        return _coverage.technique_family(self._session, technique_id)

    def mapping_facts(
        self,
        release_pk: int,
        *,
        technique_ids: Collection[str] | None = None,
        capability_id: str | None = None,
    ) -> list[MappingFact]:
        return _coverage.mapping_facts(
            self._session, release_pk, technique_ids=technique_ids, capability_id=capability_id
        )

    def tactics(self) -> list[TacticFacts]:
        return _coverage.tactics(self._session)

    def techniques_in_tactic(self, domain: str, shortname: str) -> list[str]:
        return _coverage.techniques_in_tactic(self._session, domain, shortname)

    def last_change(self) -> LastChange | None:
        """What the newest sync or ingest run changed."""
        # The sync-run model lives with the bot's state tables (store.app_state, ~25 ms to import),
        # which answering a question never loads otherwise (tests/test_store_migrations.py).
        from store.reads.changes import last_change  # noqa: PLC0415

        return last_change(self._session)

    # ------------------------------------------------------------------ ATT&CK objects

    def attack_object_techniques(
        self, attack_id: str, domain: str | None = None
    ) -> tuple[AttackObjectRef, list[str]] | None:
        """A tactic's or mitigation's techniques."""
        return attack_object_techniques(self._session, attack_id, domain)

    def threat_by_id(
        self, attack_id: str, *, coverage: bool = True, frameworks: Sequence[str] | None = None
    ) -> ThreatView | None:
        """A group, software or campaign with its techniques (and coverage unless told not to)."""
        return threat_by_id(self._session, attack_id, coverage=coverage, frameworks=frameworks)


@contextmanager
def reads(engine: Engine) -> Iterator[Reads]:
    """One read transaction on ``engine``, as a ``Reads`` handle."""
    with session_scope(engine) as session:
        yield Reads(session)


class ViewReads:
    """One read transaction on a pooled connection, without an ORM session (whose set-up and
    commit cost more than a view's queries): the views answers are made of."""

    __slots__ = ("_reader",)

    def __init__(self, reader: Reader) -> None:
        self._reader = reader

    def view(self, request: ViewRequest) -> AnyView | NotLoaded:
        """The view a request names; what is not loaded gives a NotLoaded, never an exception."""
        return build_view(self._reader, request)

    def unknown_subjects(self, request: ViewRequest) -> list[str]:
        """What ``request`` names that the database does not hold; empty when everything exists."""
        return unknown_subjects(self._reader, request)

    def release_breadth(self, release_pk: int) -> dict[str, int]:
        """Techniques each control of the release maps (cache it per data version)."""
        return release_breadth(self._reader, release_pk)

    def ranked_for_card(
        self, view: TechniqueView, breadth_of: Callable[[int], dict[str, int]]
    ) -> TechniqueView:
        """``view`` with each group's lines best first, for a card's "Top controls"."""
        return ranked_for_card(self._reader, view, breadth_of)

    def card_names(self) -> tuple[CardName, ...]:
        """Groups, software and campaigns with their names and aliases."""
        return card_names(self._reader)


@contextmanager
def view_reads(engine: Engine, known: StaticInfo | None = None) -> Iterator[ViewReads]:
    """A ``ViewReads`` on ``engine``, with the static facts the caller holds for the data version
    (None: read on first use)."""
    with reading(engine, known) as reader:
        yield ViewReads(reader)
