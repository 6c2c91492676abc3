"""Answers kept per data version for repeated slash-command questions."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.context.ack import Ack

from bot.answer import Answer, Payload
from bot.slack.memo import AnswerMemo, ephemeral_body


class CountingAnswerer:
    def __init__(self, version: str | None) -> None:
        self.data_version = version
        self.asked: list[tuple[str, tuple[str, ...]]] = []

    def answer(self, text: str, *, frameworks: Any = ()) -> Answer:
        self.asked.append((text, tuple(frameworks)))
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f"{text} <&> v{self.data_version}"}}]
        return Answer(True, None, None, Payload(f"{text} ({self.data_version})", blocks), ("T1048",))


def test_a_repeated_question_is_answered_from_memory_until_the_data_changes() -> None:
    answerer = CountingAnswerer("v1")
    memo = AnswerMemo(answerer)
    first = memo.answer("T1048 SC-07", ("nist_800_53",))
    assert memo.answer("T1048 SC-07", ("nist_800_53",)) is first
    assert len(answerer.asked) == 1
    memo.answer("T1048 SC-07", ("m365",))  # other channel frameworks: another answer
    assert len(answerer.asked) == 2
    answerer.data_version = "v2"  # new data loaded
    fresh = memo.answer("T1048 SC-07", ("nist_800_53",))
    assert fresh is not first and "(v2)" in fresh.answer.payload.text
    assert len(answerer.asked) == 3


def test_without_a_data_version_every_question_is_asked() -> None:
    answerer = CountingAnswerer(None)
    memo = AnswerMemo(answerer)
    memo.answer("T1048")
    memo.answer("T1048")
    assert len(answerer.asked) == 2


def test_the_memory_is_bounded() -> None:
    answerer = CountingAnswerer("v1")
    memo = AnswerMemo(answerer, size=3)
    for q in ("a", "b", "c", "d"):
        memo.answer(q)
    memo.answer("a")  # the oldest went
    memo.answer("d")  # the newest stayed
    assert [q for q, _ in answerer.asked] == ["a", "b", "c", "d", "a"]


def test_the_kept_ack_body_is_what_bolts_ack_sends() -> None:
    payload = CountingAnswerer("v1").answer("T1048 <!channel>").payload
    ack = Ack()
    ack(response_type="ephemeral", text=payload.text, blocks=payload.blocks)
    assert ack.response is not None
    assert json.loads(ephemeral_body(payload)) == json.loads(ack.response.body)
