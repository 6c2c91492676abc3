"""The Answerer's one cache: answers kept by question (with the channel's frameworks, filters and
form) or by button state, for the data version they were made from."""

from __future__ import annotations

import json

import pytest
from slack_bolt.context.ack import Ack
from sqlalchemy import Engine

import bot.answer
from bot.answer import Answerer, Payload
from bot.config import Settings
from bot.resolution import Resolution
from bot.resolve.index import ResolverIndex


def test_a_repeated_question_is_answered_from_the_cache_until_the_data_changes(corpus_engine: Engine) -> None:
    a = Answerer(corpus_engine, Settings())
    first = a.answer("T1048 SC-07", frameworks=("nist_800_53",))
    assert a.answer("T1048 SC-07", frameworks=("nist_800_53",)) is first
    other = a.answer("T1048 SC-07", frameworks=("m365",))  # another channel's frameworks
    assert other is not first and other.payload == first.payload  # the text names NIST itself
    assert a.answer("T1048", frameworks=("m365",)).payload != a.answer("T1048", frameworks=("aws",)).payload
    a._version = "something older"  # as if the data had changed since
    assert a.refresh_if_stale() is True
    fresh = a.answer("T1048 SC-07", frameworks=("nist_800_53",))
    assert fresh is not first and fresh.payload == first.payload


def test_a_cached_question_is_not_resolved_again(
    corpus_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = Answerer(corpus_engine, Settings())
    seen: list[str] = []
    real = bot.answer.resolve

    def counting(index: ResolverIndex, text: str) -> Resolution:
        seen.append(text)
        return real(index, text)

    monkeypatch.setattr(bot.answer, "resolve", counting)  # the name the Answerer calls
    a.answer("T1059 AC-2")
    a.answer("T1059 AC-2")
    a.answer("T1059 ac-2")  # other text: asked afresh
    assert seen == ["T1059 AC-2", "T1059 ac-2"]


def test_the_cache_is_bounded(corpus_engine: Engine) -> None:
    a = Answerer(corpus_engine, Settings(), cache_size=2)
    oldest = a.answer("T1110")
    a.answer("T1190")
    a.answer("T1486")  # T1110 falls out (its state answer too: one cache for both)
    assert a.answer("T1110") is not oldest


def test_the_ack_json_is_what_bolts_ack_sends() -> None:
    payload = Payload(
        "T1048 <!channel>", [{"type": "section", "text": {"type": "mrkdwn", "text": "a <&> b"}}]
    )
    ack = Ack()
    ack(response_type="ephemeral", text=payload.text, blocks=payload.blocks)
    assert ack.response is not None
    assert json.loads(payload.ephemeral_json) == json.loads(ack.response.body)
    assert payload.ephemeral_json is payload.ephemeral_json  # made once
