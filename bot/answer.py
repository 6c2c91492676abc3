"""The answer pipeline behind every surface: text → Resolution → view → payload.

CONTRACT (used by the Slack app, digests and the CLI).  Issue 4 implements the bodies;
the signatures are fixed so the surfaces can be built in parallel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from bot.config import Settings
from bot.resolution import Filters, Resolution


@dataclass(frozen=True)
class Payload:
    """A Slack message body: ``text`` fallback plus Block Kit blocks as plain dicts (already
    validated against Slack's limits)."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


@dataclass(frozen=True)
class Answer:
    ok: bool  # False when nothing was recognised: payload is a "did you mean" / help message
    resolution: Resolution | None
    view: Any  # one of the view dataclasses (plain data, no Slack types)
    payload: Payload
    technique_ids: tuple[str, ...] = ()  # what the answer was about, for look-up logging
    capability_ids: tuple[str, ...] = ()  # "framework:ID"


class Answerer:
    """One per process; thread-safe.  Holds the engine and the resolver index, and rebuilds the
    index when the loaded data changes."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def refresh_if_stale(self) -> bool:
        """Rebuild the resolver index if the data changed since it was built; True if rebuilt."""
        raise NotImplementedError

    def answer(
        self,
        text: str,
        *,
        frameworks: Sequence[str] = (),
        filters: Filters | None = None,
        compact: bool = False,
    ) -> Answer:
        """Answer free text (``/attack`` text, a mention, a DM, the modal's query)."""
        raise NotImplementedError

    def answer_from_state(self, value: str, *, shared_by: str | None = None) -> Answer:
        """Re-render from a button/select ``value`` (next page, expanded comment, other release,
        did-you-mean).  With ``shared_by`` (a Slack user ID) the payload is the in-channel form,
        attributed to that user, without the Share button."""
        raise NotImplementedError

    def card(self, technique_id: str) -> Answer:
        """The compact card for incident channels, thread replies and link unfurls."""
        raise NotImplementedError

    def export(self, value: str, fmt: str) -> tuple[str, bytes]:
        """(filename, content) for ``fmt`` "csv" or "navigator" (ATT&CK Navigator layer JSON)."""
        raise NotImplementedError
