"""A threat named in full inside a long question that matches nothing else is still found: the
name score weighs a name against the whole question, so filler words sank it."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from bot.config import load_settings
from bot.index_cache import build_index
from bot.resolve import resolve
from store.reads.scope import reads


@pytest.fixture(scope="module")
def index(corpus_engine: Engine):  # type: ignore[no-untyped-def]
    with reads(corpus_engine) as data:
        return build_index(data, data.data_version(), load_settings(env={}), use_cache=False)


@pytest.mark.parametrize(
    ("question", "attack_id"),
    [
        ("we have LockBit on a host, which of our controls matter?", "S1202"),
        ("lockbit 2.0 showed up on a file server", "S1199"),
        ("show me the gaps for Sandworm", "G0034"),
        ("what does APT28 use for initial access", "G0007"),
    ],
)
def test_a_threat_named_among_unmatched_words_is_the_answer(index, question: str, attack_id: str) -> None:  # type: ignore[no-untyped-def]
    r = resolve(index, question)
    assert r.threats and r.threats[0].id == attack_id, (r.intent, r.threats, r.alternatives[:3])


@pytest.mark.parametrize(
    "question", ["we have a problem on a host, which controls matter?", "lateral movement"]
)
def test_no_threat_is_found_where_none_is_named(index, question: str) -> None:  # type: ignore[no-untyped-def]
    assert not resolve(index, question).threats
