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
from bot.resolve.text import STOP_WORDS
from tests.test_resolve_unit import INDEX

INTENTS = {
    "technique", "capability", "pair", "family", "cve", "compare", "framework", "help", "unknown",
    "actor", "software", "campaign", "detection", "tactic", "mitigation",
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
    "TA0010", "ta-", "TA 99", "M1037", "m-", "M#", "hey bot,", "thanks bot", "1218.011", "1218.", "sc 7",
    "sc_", "t-1490", "T1110-003", "T1059 001", "g-0016", "s-", "exfiltration", "lateral movement", "waf",
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
    from store.reads.scope import reads

    with reads(corpus_engine) as data:
        return ResolverIndex.build(data, aliases=load_aliases())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=text_strategy)
def test_any_text_resolves_on_the_real_corpus_index(corpus_index: ResolverIndex, text: str) -> None:
    check(resolve(corpus_index, text), text)


# ---------------------------------------------------------------- the text index's bad input (issue 12)


def _real(corpus_index: ResolverIndex) -> list[str]:
    return [w for w in corpus_index.words if w.isalpha()]


def test_forty_thousand_characters_resolve_as_their_first_four_thousand(corpus_index: ResolverIndex) -> None:
    text = " ".join(_real(corpus_index)[:8000])[:40_000]
    res = resolve(corpus_index, text)
    check(res, text)
    assert res.query == text[:4000]


def test_a_question_of_only_stop_words_names_nothing(corpus_index: ResolverIndex) -> None:
    text = " ".join(sorted(STOP_WORDS)) * 3
    res = resolve(corpus_index, text)
    check(res, text)
    assert not (res.techniques or res.capabilities or res.threats or res.attack_objects)


def test_a_question_of_only_common_words_is_bounded(corpus_index: ResolverIndex) -> None:
    """Every token among the words most names share ("data", "system", "access"): each touches
    hundreds of names and most of the text index's postings."""
    common = sorted(range(len(corpus_index.words)), key=lambda t: len(corpus_index.postings[t]), reverse=True)
    text = " ".join(corpus_index.words[t] for t in common[:60])
    res = resolve(corpus_index, text)
    check(res, text)
    assert len(res.techniques) <= 3 and len(res.alternatives) <= 5


@pytest.mark.parametrize(
    "text",
    [
        "<@U0123|bob> <!channel> *lateral movement* _via_ `rdp` <https://evil.example|click>",
        "&lt;script&gt; TA0010 &amp; M1037 ~strike~ > quoted",
        "Ｔ１０４８ ｅｘｆｉｌｔｒａｔｉｏｎ",  # full-width: NFKC makes it T1048 exfiltration
        "Т1048 ехfiltrаtion",  # Cyrillic Т, е, х, а: look-alikes that are not ASCII
        "T\u200b1048 lat\u00aderal move\u200dment",  # zero-width and soft hyphens inside words
    ],
)
def test_slack_markup_and_confusables_resolve(corpus_index: ResolverIndex, text: str) -> None:
    check(resolve(corpus_index, text), text)


def test_full_width_ids_are_the_ids(corpus_index: ResolverIndex) -> None:
    assert [t.id for t in resolve(corpus_index, "Ｔ１０４８").techniques] == ["T1048"]
    assert [o.id for o in resolve(corpus_index, "ＴＡ００１０").attack_objects] == ["TA0010"]
