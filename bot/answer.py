"""The answer hub behind every surface: text → Resolution → view → payload.

``Answerer`` implements ``bot.answer_contract.AnswerService`` (whose types are re-exported
here).  It is built once per process; it holds the resolver index and one LRU cache of answers
(by question text and channel frameworks, or by button state), belonging to the data version:
when ``refresh_if_stale`` sees new data it rebuilds the index and empties the cache.  Answers
never raise for bad input: unknown text gives a "did you mean", a forged or stale button gives a
clean error payload.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from bot.answer_contract import Answer, AnswerService, Payload, Reading
from bot.config import Settings
from bot.coverage.answers import Refusal, answer_coverage_question
from bot.coverage.overlay import YoursCache
from bot.coverage.questions import coverage_question
from bot.errors import UserFacingError
from bot.index_cache import build_index
from bot.render.notes import worded
from bot.resolution import Resolution
from bot.resolve import resolve
from bot.view_requests import merge_filters, message_for, notes_for, request_for
from store.attack_views import AttackObjectView
from store.db import Engine
from store.reads.scope import reads, view_reads
from store.threat_views import ThreatView
from store.views import Filters, MessageView, TechniqueView, ViewRequest

if TYPE_CHECKING:
    from bot.coverage.answers import CoverageView, Refusal
    from bot.coverage.overlay import YoursCache
    from bot.coverage.views import GapReport
    from bot.render.blocks import Rendered
    from bot.render.state import State
    from bot.resolve.index import ResolverIndex
    from store.reads.static import StaticInfo
    from store.state.inventory import Inventory
    from store.threat_views import AnyView
    from store.views import View, ViewRequest

# The Slack renderers (bot.render.blocks, .state, .limits, .threat, .export ...) are imported in
# the methods that build Block Kit: the terminal path (a cold `countermap ask`) never loads them,
# 23 modules and ~90 ms measured on this machine (ruff's PLC0415 is ignored for this file only).
__all__ = ["Answer", "AnswerService", "Answerer", "Payload", "Reading"]

log = logging.getLogger(__name__)
K = TypeVar("K")
V = TypeVar("V")


class _LRU(OrderedDict[K, V]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def get_or_none(self, key: K) -> V | None:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


class _Flight:
    """One answer being made, that other threads asking the same may wait for."""

    WAIT_SECONDS = 2.0  # never longer than the ack budget: past it, answer it yourself

    def __init__(self) -> None:
        self.done = threading.Event()
        self.waiters = 0

    def wait_for(self, answerer: Any, key: Hashable) -> Any:
        self.waiters += 1
        self.done.wait(self.WAIT_SECONDS)
        return answerer._cached(key)  # None when it was not kept (new data, an error): make it


class Answerer:
    """One per process; thread-safe.  Holds the engine and the resolver index, and rebuilds the
    index when the loaded data changes."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        cache_size: int = 4096,
        stale_check_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        index_cache: bool = False,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.stale_check_seconds = stale_check_seconds
        self.index_cache = index_cache  # reuse a built index from disk (short-lived CLI processes)
        self._clock = clock
        self._lock = threading.RLock()
        self._build_lock = threading.Lock()  # one index build at a time, outside ``_lock``
        self._flights: dict[Hashable, _Flight] = {}  # answers being made, by cache key
        self._index: ResolverIndex | None = None
        self._version: str | None = None
        self._checked_at = float("-inf")
        # The one cache: answers by (question, frameworks, filters, form) or by button state.
        self._answers: _LRU[Hashable, Answer] = _LRU(cache_size)
        self._static: StaticInfo | None = None  # releases, tactics, techniques of this data version
        # Techniques each control maps, per (data version, release): cards rank by it.
        self._breadth: dict[tuple[str | None, int], dict[str, int]] = {}
        self._yours: YoursCache | None = None  # made on the first answer with an inventory

    # ------------------------------------------------------------------ data version / index

    def refresh_if_stale(self) -> bool:
        """Rebuild the resolver index if the data changed since it was built; True if rebuilt.

        The build (seconds) runs outside the answer lock: while it runs, answers go on with the
        index they have, and it is swapped in whole.  One build at a time; a caller that finds
        one under way goes on with the current index, unless there is none yet (then it waits)."""

        if not self._build_lock.acquire(blocking=self._index is None):
            return False
        try:
            self._checked_at = self._clock()
            with reads(self.engine) as data:
                version = data.data_version()
                if version == self._version and self._index is not None:
                    return False
                index = build_index(data, version, self.settings, use_cache=self.index_cache)
                # Releases, tactics and techniques change only with the data version: read here,
                # with the index (off the request path in a serving process), not in an answer.
                static = data.load_static()
                data.prime_used_by(static)  # every technique answer's "used by" line
            with self._lock:
                self._index, self._version, self._static = index, version, static
                self._answers.clear()
                if self._yours is not None:
                    self._yours.clear()
            return True
        finally:
            self._build_lock.release()

    def _ensure_fresh(self) -> ResolverIndex:
        if self._index is None or self._clock() - self._checked_at >= self.stale_check_seconds:
            self.refresh_if_stale()
        assert self._index is not None
        return self._index

    def _cached(self, key: Hashable) -> Answer | None:
        with self._lock:
            return self._answers.get_or_none(key)

    def _board(self, key: Hashable) -> tuple[_Flight, bool]:
        """The answer to ``key`` being made now, and whether this thread is to make it: the same
        question asked at once on several threads (a burst after a start, a busy channel) is
        answered once, the others waiting for it."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is None:
                flight = self._flights[key] = _Flight()
                return flight, True
            return flight, False

    def _land(self, key: Hashable, flight: _Flight) -> None:
        with self._lock:
            self._flights.pop(key, None)
        flight.done.set()

    def _keep(self, key: Hashable, answer: Answer, version: str | None) -> None:
        """Cache ``answer`` unless new data was loaded while it was made."""
        with self._lock:
            if version == self._version:
                self._answers.put(key, answer)

    @property
    def data_version(self) -> str | None:
        return self._version

    # ------------------------------------------------------------------ public API

    def answer(
        self,
        text: str,
        *,
        frameworks: Sequence[str] = (),
        filters: Filters | None = None,
        compact: bool = False,
        page: int = 1,
        inventory: Inventory | None = None,
    ) -> Answer:
        """Answer free text (``/attack`` text, a mention, a DM, the modal's query) for Slack.
        ``frameworks`` apply when the text names none (channel defaults, ``--framework``);
        ``inventory`` (the asker's controls) marks the answer ("✓ yours")."""
        found = self._answer_text(text, frameworks, filters, compact, page)
        return self.with_yours(found, inventory)

    def _answer_text(
        self, text: str, frameworks: Sequence[str], filters: Filters | None, compact: bool, page: int
    ) -> Answer:
        index = self._ensure_fresh()
        version = self._version
        key = ("text", text, tuple(frameworks), filters, compact, page)
        hit = self._cached(key)
        if hit is not None:
            return hit
        flight, leader = self._board(key)
        if not leader:
            hit = flight.wait_for(self, key)
            if hit is not None:
                return hit
        try:
            return self._make_text_answer(index, version, key, text, frameworks, filters, compact, page)
        finally:
            if leader:
                self._land(key, flight)

    def _make_text_answer(
        self,
        index: ResolverIndex,
        version: str | None,
        key: Hashable,
        text: str,
        frameworks: Sequence[str],
        filters: Filters | None,
        compact: bool,
        page: int,
    ) -> Answer:
        resolution = self._resolved(index, text, filters)
        coverage = self._coverage_answer(text, resolution, frameworks)
        if coverage is not None:
            return coverage
        request = self.request_for(resolution, frameworks)
        if request is None:
            view = message_for(resolution)
            rendered = self._render_message(view)
            made = Answer(False, resolution, view, Payload(rendered.text, rendered.blocks))
        else:
            from bot.render.state import State

            state = State(request, compact=compact, page=min(max(1, page), 200))
            notes = notes_for(resolution)
            made = replace(self._answer_state(state, resolution=resolution, notes=notes), notes=notes)
        self._keep(key, made, version)
        return made

    def read(
        self,
        text: str,
        *,
        frameworks: Sequence[str] = (),
        filters: Filters | None = None,
        inventory: Inventory | None = None,
    ) -> Reading:
        """The answer to ``text`` as plain data, for the terminal: the same resolution and view
        as ``answer``, with no Block Kit built (nor slack_sdk imported)."""
        found = self._read_text(text, frameworks, filters)
        report = self._yours_report(found.view, inventory) if found.ok else None
        return found if report is None else replace(found, yours=report)

    def _read_text(self, text: str, frameworks: Sequence[str], filters: Filters | None) -> Reading:
        resolution = self._resolved(self._ensure_fresh(), text, filters)
        coverage = self._coverage_reading(text, resolution, frameworks)
        if coverage is not None:
            return coverage
        request = self.request_for(resolution, frameworks)
        if request is None:
            return Reading(False, resolution, message_for(resolution))
        return Reading(
            ok=True,
            resolution=resolution,
            view=self._view(request),
            technique_ids=request.techniques if request.kind != "threat" else (),
            capability_ids=tuple(f"{fw}:{cid}" for fw, cid in request.capabilities),
            notes=notes_for(resolution),
        )

    @staticmethod
    def _resolved(index: ResolverIndex, text: str, filters: Filters | None) -> Resolution:
        resolution = resolve(index, text)
        if filters is not None:
            resolution = replace(resolution, filters=merge_filters(resolution.filters, filters))
        return resolution

    def resolve(self, text: str) -> Resolution:
        """How the resolver reads ``text`` with the current data (for commands that answer
        from a resolution themselves, such as ``gaps``)."""

        return resolve(self._ensure_fresh(), text)

    def answer_from_state(
        self, value: str, *, shared_by: str | None = None, inventory: Inventory | None = None
    ) -> Answer:
        """Re-render from a button/select ``value`` (next page, expanded comment, other release,
        did-you-mean).  With ``shared_by`` (a Slack user ID) the payload is the in-channel form,
        attributed to that user, without the Share button."""
        from bot.render.state import StateError, decode_state

        try:
            state = decode_state(value)
            self._ensure_fresh()
            self._check_subjects(state.request)
        except StateError as exc:
            return self._error(str(exc))
        return self.with_yours(self._answer_state(state, shared_by=shared_by), inventory)

    def _yours_report(self, view: object, inventory: Inventory | None) -> GapReport | None:
        if inventory is None or not inventory.controls:
            return None
        if self._yours is None:
            with self._lock:
                if self._yours is None:
                    self._yours = YoursCache(self.engine)
        return self._yours.report(view, inventory, data_version=self._version)

    def with_yours(self, answer: Answer, inventory: Inventory | None) -> Answer:
        """``answer`` with the inventory's coverage of its techniques: a section in the blocks
        (under the header and its first lines) and ``Answer.yours``.  Unchanged without an
        inventory, or for answers about no technique."""
        report = self._yours_report(answer.view, inventory) if answer.ok else None
        if report is None:
            return answer
        from bot.render.coverage_blocks import yours_blocks

        subject = report.subject
        command = f"{self.settings.command_name} gaps {subject.id}" if subject.kind != "technique" else None
        extra = yours_blocks(report, gaps_command=command)
        blocks = list(answer.payload.blocks)
        if not blocks or len(blocks) + len(extra) > 50:
            return replace(answer, yours=report)  # Slack's block limit: the gap report has it all
        heading = (i + 1 for i, b in enumerate(blocks[1:6], 1) if b.get("type") == "context")
        at = next(heading, min(2, len(blocks)))
        blocks[at:at] = extra
        return replace(answer, yours=report, payload=Payload(answer.payload.text, blocks))

    def card(
        self,
        technique_id: str,
        *,
        frameworks: Sequence[str] = (),
        filters: Filters | None = None,
        inventory: Inventory | None = None,
    ) -> Answer:
        """The compact card for incident channels, thread replies and link unfurls
        (``frameworks``: e.g. the channel's own list; default ``default_frameworks``;
        ``filters``: e.g. the ATT&CK version a Mappings Explorer link names).  Not ok for an ID
        that no loaded ATT&CK or mapping file has: a card must never show "0 mappings" for it."""

        from bot.render.state import State

        tid = technique_id.strip().upper()
        if not re.fullmatch(r"T\d{4}(\.\d{3})?", tid):
            return self._error(f"{technique_id[:40]} is not an ATT&CK technique ID.")
        index = self._ensure_fresh()
        if index.technique(tid) is None:
            return self._error(f"{tid} does not exist in the loaded ATT&CK data.")
        fws = tuple(dict.fromkeys(frameworks or self.settings.default_frameworks))
        request = ViewRequest("technique", (tid,), frameworks=fws, filters=filters or Filters())
        return self.with_yours(self._answer_state(State(request, compact=True)), inventory)

    def export(self, value: str, fmt: str) -> tuple[str, bytes]:
        """(filename, content) for ``fmt`` "csv" or "navigator" (ATT&CK Navigator layer JSON).
        Raises ``ValueError`` (a ``StateError`` for a bad value) with a message for the user."""
        from bot.render.export import to_csv, to_navigator
        from bot.render.state import decode_state
        from bot.render.threat_export import threat_csv, threat_layer

        if fmt not in ("csv", "navigator"):
            raise ValueError(f"unknown export format {fmt!r}: use csv or navigator")
        state = decode_state(value)
        self._ensure_fresh()
        self._check_subjects(state.request)
        view = self._view(state.request)
        if isinstance(view, ThreatView):
            return threat_csv(view) if fmt == "csv" else threat_layer(view)
        if isinstance(view, AttackObjectView):  # no export button is offered on these
            raise ValueError("This answer has no export.")
        return to_csv(view) if fmt == "csv" else to_navigator(view)

    # ------------------------------------------------------------------ internals

    def _check_subjects(self, request: ViewRequest) -> None:
        """Raise ``StateError`` when a (public, forgeable) state names a technique, control,
        family or framework the database does not hold, rather than render it as an empty
        answer.  The names are not echoed: they are whatever the sender wrote."""
        from bot.render.state import StateError

        with view_reads(self.engine) as data:
            missing = data.unknown_subjects(request)
        if missing:
            log.info("refused a button state naming what is not loaded: %d name(s)", len(missing))
            raise StateError("This button names something I don't have (older data?); ask again.")

    def request_for(self, resolution: Resolution, frameworks: Sequence[str] = ()) -> ViewRequest | None:
        """The view a resolution asks for with this process's default frameworks."""
        return request_for(resolution, frameworks, self.settings.default_frameworks)

    def _coverage(
        self, text: str, resolution: Resolution, frameworks: Sequence[str]
    ) -> CoverageView | Refusal | None:
        """A pivot (``SC-07 in aws``), several controls (``SC-07 SI-04``) or a diff
        (``T1048 rev4 vs rev5``), or a refusal of one; None when the text asks none of these."""

        if coverage_question(text, resolution) is None:
            return None
        defaults = tuple(resolution.frameworks or frameworks or self.settings.default_frameworks)
        return answer_coverage_question(self.engine, text, resolution, default_frameworks=defaults)

    def _coverage_reading(
        self, text: str, resolution: Resolution, frameworks: Sequence[str]
    ) -> Reading | None:

        found = self._coverage(text, resolution, frameworks)
        if found is None:
            return None
        if isinstance(found, Refusal):
            return Reading(False, None, MessageView("Cannot show that", found.message, kind="unknown"))
        techniques = tuple(t.id for t in resolution.techniques)
        caps = tuple(f"{c.framework}:{c.id}" for c in resolution.capabilities)
        return Reading(True, resolution, found, techniques, caps)

    def _coverage_answer(self, text: str, resolution: Resolution, frameworks: Sequence[str]) -> Answer | None:
        from bot.render.coverage_blocks import coverage_message

        found = self._coverage(text, resolution, frameworks)
        if found is None:
            return None
        if isinstance(found, Refusal):
            return self._error(found.message)
        techniques = tuple(t.id for t in resolution.techniques)
        caps = tuple(f"{c.framework}:{c.id}" for c in resolution.capabilities)
        fallback, blocks = coverage_message(found)
        return Answer(True, resolution, found, Payload(fallback, blocks), techniques, caps)

    def _render_message(self, view: View) -> Rendered:
        from bot.render.blocks import render_view
        from bot.render.state import State

        return render_view(
            view, State(ViewRequest("unknown", frameworks=tuple(self.settings.default_frameworks)))
        )

    def _error(self, message: str) -> Answer:
        from bot.render.errors import error_payload

        view = MessageView("Cannot show that", message, kind="unknown")
        return Answer(False, None, view, error_payload(UserFacingError(message)))

    def _view(self, request: ViewRequest) -> AnyView:
        # A pooled connection in one read transaction, without an ORM Session (whose set-up
        # and commit cost more than a view's queries).
        with view_reads(self.engine, self._static) as data:  # none yet: read on first use
            found = data.view(request)
        return worded(found)  # the read's facts in words, for every surface alike

    def _ranked_for_card(self, view: TechniqueView) -> TechniqueView:
        """A card's view with its lines best first (``store.reads.ranking.ranked_for_card``):
        one more select, made for cards only (posted after the ack, and cached like any answer)."""
        with view_reads(self.engine, self._static) as data:
            version = self._version
            if any(v != version for v, _pk in list(self._breadth)):
                self._breadth.clear()  # another data version's

            def breadth_of(pk: int) -> dict[str, int]:
                known = self._breadth.get((version, pk))
                if known is None:
                    known = self._breadth[(version, pk)] = data.release_breadth(pk)
                return known

            return data.ranked_for_card(view, breadth_of)

    def _answer_state(
        self,
        state: State,
        *,
        shared_by: str | None = None,
        resolution: Resolution | None = None,
        notes: tuple[str, ...] = (),
    ) -> Answer:
        from bot.render.blocks import render_view
        from bot.render.errors import error_payload
        from bot.render.limits import violations
        from bot.render.threat import render_threat

        key = ("state", state, shared_by, notes)
        version = self._version
        hit = self._cached(key)
        if hit is not None:
            return hit if hit.resolution is resolution else replace(hit, resolution=resolution)
        view = self._view(state.request)
        if state.compact and isinstance(view, TechniqueView):
            view = self._ranked_for_card(view)
        if isinstance(view, ThreatView):
            rendered = render_threat(view, state, shared_by=shared_by, notes=notes)
        else:
            rendered = render_view(view, state, shared_by=shared_by, notes=notes)
        # Every limit slack_sdk's validators hold is among our checks (bot.render.limits):
        # no Block.parse round trip on the way out.
        problems = violations(
            {"text": rendered.text, "blocks": rendered.blocks},
            allow_users=(shared_by,) if shared_by else (),
            reparse=False,
        )
        if problems:  # never send what Slack would refuse; say so instead
            log.error("answer %s breaks Slack limits: %s", state, "; ".join(problems[:5]))
            too_big = UserFacingError("This answer does not fit in a Slack message; use the CSV export.")
            refused = error_payload(too_big)
            rendered = replace(rendered, text=refused.text, blocks=refused.blocks, page=1, pages=1)
        req = state.request
        made = Answer(
            ok=True,
            resolution=resolution,
            view=view,
            payload=Payload(rendered.text, rendered.blocks),
            technique_ids=req.techniques if req.kind != "threat" else (),
            capability_ids=tuple(f"{fw}:{cid}" for fw, cid in req.capabilities),
            page=rendered.page,
            pages=rendered.pages,
        )
        self._keep(key, made, version)
        return made

    def clear_cache(self) -> None:
        """Forget cached answers (benchmarks measure the uncached cost with it)."""
        with self._lock:
            self._answers.clear()
