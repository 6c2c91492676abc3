"""Capability short forms derived from the data's own names (issue 12 item 3): initialisms of a
product's name and of its tails, of hyphenated compounds, the product after a suite's prefix."""

from __future__ import annotations

from typing import Any

import pytest

from bot.resolve import ResolverIndex, load_aliases, resolve
from bot.resolve.shortforms import initialisms, product_words, short_forms
from store.reads.scope import reads


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("AWS Web Application Firewall", {"waf"}),
        ("Microsoft Defender for Cloud: Just-in-Time VM Access", {"jit"}),
        ("Microsoft Defender for Cloud: File Integrity Monitoring", {"fim"}),
        ("Cloud Data Loss Prevention", {"cdlp", "dlp"}),
        ("AWS Identity and Access Management", {"iam"}),  # "and" is no letter
        ("Azure Role-Based Access Control", {"rbac"}),
    ],
)
def test_initialisms_come_from_the_name_and_its_tails(name: str, expected: set[str]) -> None:
    assert expected <= initialisms(name)


def test_no_initialism_shadows_an_ordinary_word_of_some_name() -> None:
    assert "dns" not in short_forms("Domain Name Service", {"dns"})
    assert short_forms("Access Transparency", set()) == set()  # "at": too short, and a stop word


def test_the_product_after_a_suite_prefix_is_its_own_name() -> None:
    assert (
        product_words("Microsoft Defender for Cloud: File Integrity Monitoring")
        == "File Integrity Monitoring"
    )
    assert product_words("Amazon GuardDuty") is None


@pytest.fixture(scope="module")
def index(corpus_engine: Any) -> ResolverIndex:
    with reads(corpus_engine) as data:
        return ResolverIndex.build(data, aliases=load_aliases())


@pytest.mark.parametrize(
    ("text", "framework", "words"),
    [
        ("waf", None, "web application firewall"),
        ("aws waf", "aws", "web application firewall"),
        ("azure waf", "azure", "web application firewall"),
        ("JIT", "azure", "just-in-time"),
        ("fim", "azure", "file integrity monitoring"),
        ("kms", "aws", "key management"),
        ("which techniques does dlp cover?", None, "data loss prevention"),
    ],
)
def test_short_forms_resolve_to_the_capability_they_abbreviate(
    index: ResolverIndex, text: str, framework: str | None, words: str
) -> None:
    res = resolve(index, text)
    assert res.intent == "capability" and res.capabilities, res.to_json()
    top = res.capabilities[0]
    assert words in top.name.lower(), res.to_json()
    if framework:
        assert top.framework == framework


@pytest.mark.parametrize(
    ("text", "technique", "capability"),
    [
        ("safe links vs spearphishing link", "T1566.002", "DEF-SLNK-E3"),
        ("does jit stop rdp brute force", "T1110", "just-in-time_vm_access"),
        ("guardduty for dcsync", "T1003.006", "amazon_guardduty"),
    ],
)
def test_a_question_naming_a_technique_and_a_capability_gets_both(
    index: ResolverIndex, text: str, technique: str, capability: str
) -> None:
    res = resolve(index, text)
    assert res.techniques and res.techniques[0].id.startswith(technique), res.to_json()
    assert capability in [c.id for c in res.capabilities], res.to_json()
