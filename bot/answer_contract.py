"""What the answer hub returns and promises: ``Payload`` (a Slack message body), ``Answer``
(for Slack), ``Reading`` (plain data, for the terminal and ``ask --json``) and
``AnswerService``, the ``typing.Protocol`` the Slack app, the digest and the CLI ask of it
(``bot.answer.Answerer`` implements it; tests stand in for it)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from bot.resolution import Resolution
from store.db import Engine
from store.views import Filters

if TYPE_CHECKING:
    from bot.coverage.answers import CoverageView
    from bot.coverage.views import GapReport
    from store.state.inventory import Inventory
    from store.threat_views import AnyView

    AnswerView = AnyView | CoverageView  # plain data, no Slack types


@dataclass(frozen=True)
class Payload:
    """A Slack message body: ``text`` fallback plus Block Kit blocks as plain dicts (already
    validated against Slack's limits)."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}

    @cached_property
    def ephemeral_json(self) -> str:
        """The body of Bolt's ``ack(response_type="ephemeral", text=..., blocks=...)``, made once
        per payload: a cached answer's slash-command ack is not serialised again."""
        return json.dumps({"text": self.text, "response_type": "ephemeral", "blocks": self.blocks})


@dataclass(frozen=True)
class Answer:
    ok: bool  # False when nothing was recognised: payload is a "did you mean" / help message
    resolution: Resolution | None
    view: AnswerView | None
    payload: Payload
    technique_ids: tuple[str, ...] = ()  # what the answer was about, for look-up logging
    capability_ids: tuple[str, ...] = ()  # "framework:ID"
    page: int = 1
    pages: int = 1
    yours: GapReport | None = None  # the asker's inventory against the answer's techniques
    notes: tuple[str, ...] = ()  # how the question was read: what Slack shows above the answer


@dataclass(frozen=True)
class Reading:
    """An answer as plain data (the view, no Block Kit): what the terminal prints and
    ``ask --json`` writes."""

    ok: bool
    resolution: Resolution | None  # None for a refusal, as for a forged button
    view: AnswerView
    technique_ids: tuple[str, ...] = ()
    capability_ids: tuple[str, ...] = ()
    yours: GapReport | None = None
    notes: tuple[str, ...] = ()  # the notes Slack shows above the same answer


class AnswerService(Protocol):
    """What the Slack app, the digest and the CLI ask of the answer hub."""

    @property
    def engine(self) -> Engine: ...

    def answer(
        self,
        text: str,
        *,
        frameworks: Sequence[str] = (),
        filters: Filters | None = None,
        compact: bool = False,
        page: int = 1,
        inventory: Inventory | None = None,
    ) -> Answer: ...

    def read(
        self,
        text: str,
        *,
        frameworks: Sequence[str] = (),
        filters: Filters | None = None,
        inventory: Inventory | None = None,
    ) -> Reading: ...

    def resolve(self, text: str) -> Resolution: ...

    def answer_from_state(
        self, value: str, *, shared_by: str | None = None, inventory: Inventory | None = None
    ) -> Answer: ...

    def card(
        self,
        technique_id: str,
        *,
        frameworks: Sequence[str] = (),
        filters: Filters | None = None,
        inventory: Inventory | None = None,
    ) -> Answer: ...

    def export(self, value: str, fmt: str) -> tuple[str, bytes]: ...
