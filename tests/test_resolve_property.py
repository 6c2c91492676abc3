"""Property: any text a user can send resolves without an exception, within bounds."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from bot.resolution import Resolution
from bot.resolve import ResolverIndex, load_aliases, resolve
from bot.resolve.resolver import INTERNAL_ERROR_NOTE
from tests.test_resolve_unit import INDEX

INTENTS = {
    "technique", "capability", "pair", "family", "cve", "compare", "framework", "help", "unknown",
    "actor", "software", "campaign", "detection",
}  # fmt: skip

# Fragments that have broken parsers before: Slack markup, SQL, regex metacharacters, RTL and
# zero-width controls, half-formed IDs, and HTML entities as Slack escapes them.
NASTY = [
    "<!channel>", "<!here|here>", "<@U0123|bob>", "<#C1|soc>",
    "<https://attack.mitre.org/techniques/T1048/|x>",
    "'; DROP TABLE mappings; --", "\" OR 1=1 --", "(.*)+$", "[a-z]{1000}", "\\", "^$|?*+()[]{}",
    "\u202e", "\u200f", "\u2066", "\ufeff", "\x00", "\x1b[31m", "مرحبا", "שלום", "中文", "😀", "Ｔ１０４８",
    "T1048", "t1048.", "T1048/", "T10", "SC-", "SC-07(", "AC-2((1))", "CVE-", "cve-2023-",
    "A&amp;A-01", "&amp;",
    "pr.ds-", "action.", "action.hacking.variety.", "DEF-", "https://", "mappings-explorer/external/nist/",
    "attack 99.9", "rev9", "07/18/2025", "v1.2.3", "significant", "compare", "vs", "help", "family", "azure",
]  # fmt: skip

text_strategy = st.one_of(
    st.text(max_size=4000),
    st.text(alphabet=string.printable, max_size=400),
    st.lists(st.sampled_from(NASTY) | st.text(max_size=12), max_size=60).map(" ".join),
)


def check(res: Resolution, text: str) -> None:
    assert isinstance(res, Resolution)
    assert INTERNAL_ERROR_NOTE not in res.notes  # the safety net caught an exception: a bug
    assert res.intent in INTENTS
    assert len(res.query) <= 4000 and res.query == text.strip()[:4000]
    assert len(res.alternatives) <= 5
    assert all(0 <= e.score <= 100 for e in (*res.techniques, *res.capabilities, *res.groups))
    res.to_json()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text_strategy)
def test_any_text_resolves_without_an_exception(text: str) -> None:
    check(resolve(INDEX, text), text)


def test_the_longest_hostile_message_resolves() -> None:
    text = (" ".join(NASTY) * 40)[:4000]
    check(resolve(INDEX, text), text)


def test_non_string_input_is_treated_as_text() -> None:
    assert resolve(INDEX, None).intent == "help"  # type: ignore[arg-type]
    assert resolve(INDEX, 1048).intent in INTENTS  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def corpus_index(corpus_engine: Engine) -> ResolverIndex:
    from store.db import session_scope

    with session_scope(corpus_engine) as session:
        return ResolverIndex.build(session, aliases=load_aliases())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=text_strategy)
def test_any_text_resolves_on_the_real_corpus_index(corpus_index: ResolverIndex, text: str) -> None:
    check(resolve(corpus_index, text), text)
