"""Recent answers to plain questions, kept with their slash-command ack body.

The same questions come back all day (``/t1048 SC-07`` in an incident); each repeat would
otherwise resolve the text again and serialise the same blocks again, on the request thread,
inside the ack.  Entries belong to the data version they were made from: once the Answerer has
loaded new data (its ``Readiness`` refresher checks every few seconds) they no longer match and
are made afresh.  An Answerer with no data version (not warm yet, or a test stub) is always asked.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from bot.answer import Answer, Payload

MEMO_SIZE = 512


def ephemeral_body(payload: Payload) -> str:
    """The JSON Bolt's ``ack(response_type="ephemeral", text=..., blocks=...)`` sends."""
    return json.dumps({"text": payload.text, "response_type": "ephemeral", "blocks": payload.blocks})


@dataclass(frozen=True)
class Answered:
    version: str | None
    answer: Answer
    ack_body: str  # the slash-command ack carrying the answer, already serialised


class AnswerMemo:
    def __init__(self, answerer: Any, *, size: int = MEMO_SIZE) -> None:
        self.answerer = answerer
        self.size = size
        self._entries: OrderedDict[tuple[str, tuple[str, ...]], Answered] = OrderedDict()
        self._lock = threading.Lock()

    def _version(self) -> str | None:
        version = getattr(self.answerer, "data_version", None)
        return version if isinstance(version, str) else None

    def answer(self, text: str, frameworks: tuple[str, ...] = ()) -> Answered:
        """``answerer.answer(text, frameworks=frameworks)``, from memory when this data version
        already answered it."""
        key = (text, tuple(frameworks))
        version = self._version()
        if version is not None:
            with self._lock:
                hit = self._entries.get(key)
                if hit is not None and hit.version == version:
                    self._entries.move_to_end(key)
                    return hit
        answer = self.answerer.answer(text, frameworks=frameworks)
        made = Answered(version, answer, ephemeral_body(answer.payload))
        if version is not None and self._version() == version:  # no new data loaded meanwhile
            with self._lock:
                self._entries[key] = made
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return made
