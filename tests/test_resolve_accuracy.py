"""Top-1 accuracy of the resolver on the evaluation set ``tests/resolve_cases.yaml``.

The set is measured as a whole (a threshold, not one test per case) because it is a quality
target: the test prints every miss so a regression names the questions it broke.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.resolution import Resolution
from bot.resolve import ResolverIndex, resolve

CASES_FILE = Path(__file__).with_name("resolve_cases.yaml")
TARGET = 0.97
CASE_KEYS = {"cat", "q", "technique", "capability", "group", "intent", "frameworks", "filters"}


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
    from store.db import session_scope

    with session_scope(corpus_engine) as session:
        return ResolverIndex.build(session, aliases=load_aliases())


def test_the_evaluation_set_is_large_and_covers_every_category() -> None:
    cases = load_cases()
    assert len(cases) >= 150
    for case in cases:
        assert set(case) <= CASE_KEYS, case
        assert set(case) & {"technique", "capability", "group", "intent", "frameworks"}, case
    categories = {c["cat"] for c in cases}
    required = {
        "technique_id", "technique_url", "technique_name", "partial_name", "word_order", "hyphen", "typo",
        "old_name", "revoked", "shorthand", "nist_id", "nist_enhancement", "control_name", "cri", "csa",
        "kev_id", "kev_name", "m365", "cloud", "veris", "group", "framework_word", "filters", "pair",
        "compare", "help", "filler", "unknown", "hostile",
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
