"""Analysts' phrasing: a question asks how to detect something by its parts (a seeing verb with
a person asking, evidence nouns, telemetry as the subject), not by a fixed sentence; and a
vendor named in the question lets a word stand for the start of that vendor's product name."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from bot.resolve import ResolverIndex, load_aliases, resolve, vocab
from bot.resolve.detecting import detection_spans
from bot.resolve.text import words
from store.reads.scope import reads


@pytest.fixture(scope="module")
def index(corpus_engine: Engine) -> ResolverIndex:
    with reads(corpus_engine) as data:
        return ResolverIndex.build(data, aliases=load_aliases())


@pytest.mark.parametrize(
    "question",
    [
        "how would i spot pass the hash",
        "can we catch golden ticket attacks",
        "is there a way to notice password spraying",
        "how can i tell if someone ran mimikatz",
    ],
)
def test_a_seeing_verb_with_a_person_asking_is_a_detection_question(question: str) -> None:
    assert detection_spans(question)


@pytest.mark.parametrize(
    "question",
    ["signs of credential dumping", "early signs of ransomware", "indicators of compromise for dcsync"],
)
def test_evidence_of_something_is_a_detection_question(question: str) -> None:
    assert detection_spans(question)


@pytest.mark.parametrize(
    "question",
    [
        "what logs show rclone exfiltration",
        "which windows events reveal rdp lateral movement",
        "what artifacts does timestomping leave",
        "what would lsass dumping look like in the logs",
        "what logs would show a new service being installed",
    ],
)
def test_telemetry_as_the_subject_is_a_detection_question(question: str) -> None:
    assert detection_spans(question)


@pytest.mark.parametrize(
    "question",
    [
        "how do i find controls for t1048",
        "which aws services detect t1530",
        "what controls do i need to catch kerberoasting",
        "how can i see the coverage for t1003",
        "tell me about kerberoasting",
    ],
)
def test_asking_which_controls_detect_is_not_a_detection_question(question: str) -> None:
    assert detection_spans(question) == []


@pytest.mark.parametrize(
    ("question", "technique"),
    [
        ("how would I spot pass the hash", "T1550.002"),
        ("what should I look for to catch kerberoasting", "T1558.003"),
        ("signs of credential dumping", "T1003"),
        ("what events show scheduled task persistence", "T1053.005"),
    ],
)
def test_a_detection_question_in_other_words_has_the_detection_intent(
    index: ResolverIndex, question: str, technique: str
) -> None:
    res = resolve(index, question)
    assert (res.intent, res.techniques[0].id) == ("detection", technique)


def test_controls_that_detect_a_technique_are_a_technique_question_filtered_to_detections(
    index: ResolverIndex,
) -> None:
    res = resolve(index, "what controls do I need to catch kerberoasting")
    assert (res.intent, res.techniques[0].id) == ("technique", "T1558.003")


@pytest.mark.parametrize(
    ("question", "capability"),
    [("amazon guard", "amazon_guardduty"), ("aws inspect", "amazon_inspector"), ("gcp armor", "cloud_armor")],
)
def test_a_vendors_name_lets_a_word_begin_its_products_name(
    index: ResolverIndex, question: str, capability: str
) -> None:
    res = resolve(index, question)
    assert res.intent == "capability" and res.capabilities[0].id == capability


def test_without_a_vendor_a_word_keeps_its_own_meaning(index: ResolverIndex) -> None:
    res = resolve(index, "guard")
    assert res.capabilities[0].framework != "aws"


def test_a_veris_word_beside_a_technique_is_context_unless_veris_is_named(index: ResolverIndex) -> None:
    res = resolve(index, "how do you recognise a phishing email")
    assert (res.intent, [t.id for t in res.techniques], res.capabilities) == ("detection", ["T1566"], ())


@pytest.mark.parametrize(
    ("question", "threat"),
    [
        ("is conti ransomware covered", "S0575"),
        ("signs of emotet infection", "S0367"),
        ("iranian actor muddywater", "G0069"),
    ],
)
def test_a_word_saying_what_kind_of_threat_a_name_is_names_the_threat(
    index: ResolverIndex, question: str, threat: str
) -> None:
    res = resolve(index, question)
    assert res.threats[0].id == threat and res.intent in ("software", "actor")


def test_a_kind_word_alone_is_still_the_technique(index: ResolverIndex) -> None:
    assert resolve(index, "ransomware").techniques[0].id == "T1486"


def test_defending_against_a_threat_asks_for_protection_not_a_defender_product(index: ResolverIndex) -> None:
    res = resolve(index, "how do we defend against lazarus")
    assert (res.threats[0].id, res.groups, res.filters.categories) == ("G0032", (), ("protect",))


@pytest.mark.parametrize(
    ("question", "technique"),
    [
        ("new admin account created at 3am", "T1136"),
        ("someone forwarded all mail to an external address", "T1114.003"),
        ("we saw certutil downloading files yesterday", "T1105"),
    ],
)
def test_when_and_who_in_an_incident_story_do_not_drown_what_happened(
    index: ResolverIndex, question: str, technique: str
) -> None:
    res = resolve(index, question)
    assert res.intent == "technique" and res.techniques[0].id.startswith(technique)


@pytest.mark.parametrize(
    ("question", "tactic"),
    [
        ("how well does azure cover lateral movement", "TA0008"),
        ("what are the gaps in m365 for credential access", "TA0006"),
        ("which gcp services help with exfiltration", "TA0010"),
    ],
)
def test_how_a_coverage_question_is_put_leaves_its_subject_the_whole_question(
    index: ResolverIndex, question: str, tactic: str
) -> None:
    res = resolve(index, question)
    assert (res.intent, res.attack_objects[0].id) == ("tactic", tactic) and res.frameworks


@pytest.mark.parametrize(
    ("question", "tactic"),
    [
        ("linux persistence", "TA0003"),
        ("lateral movement on windows", "TA0008"),
        ("list of persistence techniques", "TA0003"),
    ],
)
def test_a_platform_or_a_request_for_a_list_beside_a_tactic_leaves_the_tactic_the_subject(
    index: ResolverIndex, question: str, tactic: str
) -> None:
    res = resolve(index, question)
    assert (res.intent, res.attack_objects[0].id) == ("tactic", tactic)


def test_a_platform_beside_a_technique_name_keeps_the_technique(index: ResolverIndex) -> None:
    assert resolve(index, "windows service persistence").techniques[0].id == "T1543.003"


def test_a_group_word_beside_a_software_name_asks_about_the_software(index: ResolverIndex) -> None:
    res = resolve(index, "which groups use mimikatz")
    assert (res.intent, res.threats[0].id) == ("software", "S0002")


def test_a_control_named_like_a_tactic_is_no_second_subject_unless_its_framework_is_named(
    index: ResolverIndex,
) -> None:
    alone = resolve(index, "what would catch an attacker using wmi for lateral movement")
    named = resolve(index, "m365 lateral movements for T1021")
    assert (alone.intent, alone.capabilities) == ("detection", ())
    assert named.intent == "pair" and named.capabilities[0].id == "DEF-LM-E5"


def test_no_name_in_the_data_uses_a_word_dropped_as_narrative_or_asking(index: ResolverIndex) -> None:
    name_words = {w for e in index.entries for w in words(e.name)}
    name_words |= {w for term in index.threat_spans for w in words(term)}  # threats' aliases too
    assert name_words & (vocab.NARRATIVE_WORDS | vocab.ASKING_WORDS) == set()
