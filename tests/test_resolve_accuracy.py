"""Top-1 accuracy of the resolver on the evaluation set ``tests/resolve_cases.yaml``.

The set is measured as a whole (a threshold, not one test per case) because it is a quality
target: the test prints every miss so a regression names the questions it broke.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.resolution import Resolution
from bot.resolve import ResolverIndex, resolve

CASES_FILE = Path(__file__).with_name("resolve_cases.yaml")
TARGET = 0.97
ANSWER_KEYS = {"technique", "capability", "group", "threat", "object", "intent", "frameworks", "alternative"}
CASE_KEYS = {"cat", "q", "filters", *ANSWER_KEYS}


def load_cases() -> list[dict[str, Any]]:
    cases = yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))
    assert isinstance(cases, list)
    return cases


def check_case(case: dict[str, Any], res: Resolution) -> list[str]:
    """What is wrong with ``res`` for ``case`` (empty when it is right)."""
    problems = []
    if "technique" in case:
        got = res.techniques[0].id if res.techniques else None
        if got != case["technique"]:
            problems.append(f"technique {got} != {case['technique']}")
    if "capability" in case:
        got = f"{res.capabilities[0].framework}:{res.capabilities[0].id}" if res.capabilities else None
        if got != case["capability"]:
            problems.append(f"capability {got} != {case['capability']}")
    if "group" in case:
        got = f"{res.groups[0].framework}:{res.groups[0].id}" if res.groups else None
        if got != case["group"]:
            problems.append(f"group {got} != {case['group']}")
    if "threat" in case:
        top = res.threats[0] if res.threats else None
        got = (top.id + (f">{top.technique}" if top.technique else "")) if top else None
        if got != case["threat"]:
            problems.append(f"threat {got} != {case['threat']}")
    if "object" in case:  # a tactic or an ATT&CK mitigation
        got = res.attack_objects[0].id if res.attack_objects else None
        if got != case["object"]:
            problems.append(f"object {got} != {case['object']}")
    if "alternative" in case:  # the first "did you mean"
        got = res.alternatives[0].id if res.alternatives else None
        if got != case["alternative"]:
            problems.append(f"alternative {got} != {case['alternative']}")
    if "intent" in case and res.intent != case["intent"]:
        problems.append(f"intent {res.intent} != {case['intent']}")
    if "frameworks" in case and list(res.frameworks) != case["frameworks"]:
        problems.append(f"frameworks {list(res.frameworks)} != {case['frameworks']}")
    for key, want in (case.get("filters") or {}).items():
        got_filter = getattr(res.filters, key)
        if isinstance(got_filter, tuple):
            got_filter = list(got_filter)
        if got_filter != want:
            problems.append(f"filters.{key} {got_filter!r} != {want!r}")
    return problems


@pytest.fixture(scope="session")
def eval_index(corpus_engine: Any) -> ResolverIndex:
    from bot.resolve import load_aliases
    from store.reads.scope import reads

    with reads(corpus_engine) as data:
        return ResolverIndex.build(data, aliases=load_aliases())


def test_the_evaluation_set_is_large_and_covers_every_category() -> None:
    cases = load_cases()
    assert len(cases) >= 150
    for case in cases:
        assert set(case) <= CASE_KEYS, case
        assert set(case) & ANSWER_KEYS, case
    categories = {c["cat"] for c in cases}
    required = {
        "technique_id", "technique_url", "technique_name", "partial_name", "word_order", "hyphen", "typo",
        "old_name", "revoked", "shorthand", "nist_id", "nist_enhancement", "control_name", "cri", "csa",
        "kev_id", "kev_name", "m365", "cloud", "veris", "group", "framework_word", "filters", "pair",
        "compare", "help", "filler", "unknown", "hostile", "threat_id", "threat_name", "threat_typo",
        "threat_not", "detection", "tactic", "mitigation",
    }  # fmt: skip
    assert required <= categories, required - categories


def test_top1_accuracy_on_the_evaluation_set(eval_index: ResolverIndex) -> None:
    cases = load_cases()
    misses = []
    for case in cases:
        problems = check_case(case, resolve(eval_index, case["q"]))
        if problems:
            misses.append(f"{case['q']!r} [{case['cat']}]: {'; '.join(problems)}")
    accuracy = 1 - len(misses) / len(cases)
    print(f"\nresolver top-1 accuracy: {accuracy:.1%} on {len(cases)} cases; misses:")
    for miss in misses:
        print("  MISS", miss)
    assert accuracy >= TARGET, f"top-1 accuracy {accuracy:.1%} < {TARGET:.0%}:\n" + "\n".join(misses)


def _one_typo(word: str, rng: random.Random) -> str:
    """One keyboard slip inside ``word`` (never its first letter): swap, drop, insert or replace."""
    i = rng.randrange(1, len(word) - 1)
    op = rng.choice("sdir")
    if op == "s":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op == "d":
        return word[:i] + word[i + 1 :]
    if op == "i":
        return word[:i] + rng.choice("aeiourstn") + word[i:]
    return word[:i] + rng.choice("aeiourstn") + word[i + 1 :]


def test_names_with_one_typo_resolve_to_their_technique(
    eval_index: ResolverIndex, corpus_engine: Any
) -> None:
    """Beyond the hand-written cases: 300 current enterprise technique names drawn at random, each
    with one slip in one word of five letters or more, must mostly still find their technique (or
    a namesake: "Web Services" is two sub-techniques)."""
    from sqlalchemy import select

    from store.models import Technique

    with corpus_engine.connect() as conn:
        rows = conn.execute(
            select(Technique.attack_id, Technique.name).where(
                Technique.domain == "enterprise",
                Technique.revoked.is_(False),
                Technique.deprecated.is_(False),
            )
        ).all()
    namesakes: dict[str, set[str]] = {}
    for attack_id, name in rows:
        namesakes.setdefault(name.casefold(), set()).add(attack_id)
    rng = random.Random(7)
    tried, misses = 0, []
    for _attack_id, name in rng.sample(sorted(rows), 300):
        words_ = name.split()
        slots = [i for i, w in enumerate(words_) if len(w) >= 5 and w.isalpha()]
        if not slots:
            continue
        i = rng.choice(slots)
        words_[i] = _one_typo(words_[i], rng)
        query = " ".join(words_)
        res = resolve(eval_index, query)
        got = res.techniques[0].id if res.techniques else None
        tried += 1
        if got not in namesakes[name.casefold()]:
            misses.append(f"{query!r} → {got} (wanted {name})")
    accuracy = 1 - len(misses) / tried
    print(f"\none-typo names: {accuracy:.1%} of {tried}; misses:\n  " + "\n  ".join(misses))
    assert tried >= 250 and accuracy >= 0.95, "\n".join(misses)
