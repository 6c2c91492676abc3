"""Ranking on the real corpus (issue 12 item 2): a leftover common word is context, not a second
subject; words addressing the bot name nothing; a revoked technique yields to its replacement.

Each question states the class of mistake it guards against; none of them is in the alias file.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.resolve import ResolverIndex, load_aliases, resolve
from store.reads.scope import reads


@pytest.fixture(scope="module")
def index(corpus_engine: Any) -> ResolverIndex:
    with reads(corpus_engine) as data:
        return ResolverIndex.build(data, aliases=load_aliases())


@pytest.mark.parametrize(
    ("text", "generic"),
    [
        ("the malware encrypts files for ransom", "T1588.001"),  # "Malware"
        ("tool to exfiltrate data to cloud storage", "T1588.002"),  # "Tool"
        ("tool that dumps credentials from browsers", "T1588.002"),
    ],
)
def test_one_common_word_left_over_is_not_a_second_entity_nor_the_first(
    index: ResolverIndex, text: str, generic: str
) -> None:
    res = resolve(index, text)
    assert res.techniques and generic not in [t.id for t in res.techniques], res.to_json()


@pytest.mark.parametrize(
    "text", ["hey bot, what covers mimikatz?", "hi bot mimikatz", "mimikatz, thanks bot"]
)
def test_words_addressing_the_bot_name_nothing(index: ResolverIndex, text: str) -> None:
    res = resolve(index, text)
    assert res.intent == "software" and [t.id for t in res.threats] == ["S0002"], res.to_json()
    assert res.capabilities == ()


def test_a_rare_or_substantial_second_entity_is_still_kept(index: ResolverIndex) -> None:
    res = resolve(index, "kerberoasting with rubeus")
    assert res.techniques[0].id == "T1558.003" and [t.id for t in res.threats] == ["S1071"]
    res = resolve(index, "safe links vs spearphishing link")
    assert res.techniques[0].id == "T1566.002" and res.capabilities[0].id == "DEF-SLNK-E3"


def test_a_revoked_technique_yields_to_its_replacement_but_its_id_still_resolves(
    index: ResolverIndex,
) -> None:
    old = index.technique("T1574.002")
    assert old is not None and not old.current
    replacement = index.replaced_by["T1574.002"]
    res = resolve(index, old.name)
    assert res.techniques[0].id == replacement
    assert "T1574.002" not in [a.id for a in res.alternatives]
    by_id = resolve(index, "T1574.002")
    assert by_id.techniques[0].id == "T1574.002" and by_id.notes and replacement in by_id.notes[0]


def test_no_revoked_name_outranks_its_matching_replacement(index: ResolverIndex) -> None:
    """Every revoked technique's own name, asked as a question: when the replacement is among the
    candidates at all, the revoked one is not first."""
    bad = []
    for attack_id, repl in index.replaced_by.items():
        e = index.technique(attack_id)
        if e is None or not e.name:
            continue
        res = resolve(index, e.name)
        ids = [t.id for t in res.techniques] + [a.id for a in res.alternatives]
        if res.techniques and res.techniques[0].id == attack_id and repl in ids:
            bad.append(f"{e.name!r}: {attack_id} before {repl}")
    assert not bad, bad[:20]


def test_a_revoked_name_never_answers_for_itself_when_a_replacement_exists(index: ResolverIndex) -> None:
    """Asked by name, a revoked technique answers through the technique that replaced it even
    when the question has none of the replacement's words ("new service" was T1050, now
    T1543.003 Windows Service), as a revoked group does; only its ID still shows it."""
    first = []
    for attack_id in index.replaced_by:
        e = index.technique(attack_id)
        if e is None or not e.name:
            continue
        res = resolve(index, e.name)
        if res.techniques and res.techniques[0].id == attack_id:
            first.append(f"{e.name!r}: {attack_id}")
    assert not first, first[:20]
    assert resolve(index, "how do I monitor for new services").techniques[0].id == index.replaced_by["T1050"]
