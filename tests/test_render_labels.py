"""Reads return keys, bot names them (issue 11): a mapping group, a capability's counts and a
threat's sub-techniques are read as facts (score category and value, the release's mapping type,
a sub-technique's and its parent's names), and the answer layer
(``bot.render.notes.worded``) words them once, for Block Kit, terminal and ``ask --json``."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import Engine

from bot.answer import Answerer
from bot.config import Settings
from bot.labels import count_label, framework_label, release_label
from bot.render.notes import worded
from store.reads.scope import view_reads
from store.threat_views import SubTechniqueName, ThreatView
from store.views import (
    FRAMEWORKS,
    CapabilityRef,
    CapabilityView,
    Filters,
    ReleaseRef,
    TacticGroup,
    Tally,
    TechniqueView,
    ViewRequest,
)


@pytest.fixture(scope="module")
def answerer(corpus_engine: Engine) -> Answerer:
    return Answerer(corpus_engine, Settings())


def test_a_capabilitys_counts_are_read_per_score_category_and_value(corpus_engine: Engine) -> None:
    request = ViewRequest("capability", capabilities=(("m365", "DEF-CAPP-E5"),), frameworks=("m365",))
    with view_reads(corpus_engine) as data:
        view = data.view(request)
    assert isinstance(view, CapabilityView)
    # A technique under two tactics is the same line object in both.
    lines = {id(ln): ln for t in view.tactics for g in t.groups for ln in g.lines}
    want = Counter(Tally(ln.score_category, ln.score_value) for ln in lines.values())
    assert dict(view.counts) == want
    assert {k.score_category for k in want} == {"protect", "detect"}


def test_the_answer_words_each_count_of_the_read(corpus_engine: Engine, answerer: Answerer) -> None:
    request = ViewRequest("capability", capabilities=(("m365", "DEF-CAPP-E5"),), frameworks=("m365",))
    with view_reads(corpus_engine) as data:
        read = data.view(request)
    answered = answerer.read("m365 DEF-CAPP-E5").view
    assert isinstance(read, CapabilityView) and isinstance(answered, CapabilityView)
    assert answered.counts == tuple((count_label(k), n) for k, n in read.counts)
    assert ("Protect · significant", 3) in answered.counts


def test_an_unscored_count_is_named_by_its_mapping_type() -> None:
    assert count_label(Tally(None, None, "Mitigates")) == "Mitigates"
    assert count_label(Tally("detect", "partial")) == "Detect · partial"
    assert count_label(Tally("respond", None)) == "Respond"


def test_mapping_groups_are_read_unnamed_and_answered_by_category_or_mapping_type(
    corpus_engine: Engine, answerer: Answerer
) -> None:
    request = ViewRequest("technique", ("T1566",), frameworks=("nist_800_53", "m365"))
    with view_reads(corpus_engine) as data:
        read = data.view(request)
    assert isinstance(read, TechniqueView)
    assert all(g.label == "" for s in read.sections for g in s.groups)
    answered = answerer.read("T1566 nist m365").view
    assert isinstance(answered, TechniqueView)
    named = {(s.framework, g.mapping_type, g.score_category): g for s in answered.sections for g in s.groups}
    assert {g.label for (fw, _, _), g in named.items() if fw == "m365"} <= {"Protect", "Detect", "Respond"}
    nist = [g for (fw, _, _), g in named.items() if fw == "nist_800_53"]
    assert nist and all(g.label == g.lines[0].mapping_type_label for g in nist)


def test_a_release_is_named_with_its_framework_and_attack_version() -> None:
    ref = ReleaseRef("nist_800_53", "rev5", "16.1", "enterprise")
    assert release_label(ref) == "NIST 800-53 rev5 · ATT&CK 16.1"
    assert release_label(ReleaseRef("m365", "07/18/2025", "16.1", "mobile")).endswith("ATT&CK 16.1 mobile")


def test_every_framework_the_product_knows_has_a_name() -> None:
    assert all(framework_label(fw) != fw for fw in FRAMEWORKS)


def test_a_threats_sub_technique_is_read_with_its_parents_name_and_answered_as_attack_names_it(
    corpus_engine: Engine, answerer: Answerer
) -> None:
    with view_reads(corpus_engine) as data:
        read = data.view(ViewRequest("threat", threat="G0016"))
        assert isinstance(read, ThreatView)
        sub = next(p for p in read.procedures if "." in p.technique_id)
        parent = data.view(ViewRequest("technique", (sub.technique_id.split(".")[0],)))
    assert isinstance(sub.technique_name, SubTechniqueName) and isinstance(parent, TechniqueView)
    assert sub.technique_name.parent == parent.header.name
    answered = answerer.read("APT29").view
    assert isinstance(answered, ThreatView)
    names = {p.technique_id: p.technique_name for p in answered.procedures}
    assert names[sub.technique_id] == f"{parent.header.name}: {sub.technique_name.name}"
    assert all(isinstance(n, str) for n in names.values())


def test_techniques_outside_the_loaded_attack_are_read_unnamed_and_answered_under_other() -> None:
    outside = TacticGroup("", (), 0)
    view = CapabilityView(
        CapabilityRef("nist_800_53", "SC-07", "Boundary Protection"), None, None, (outside,), 0, (), Filters()
    )
    answered = worded(view)
    assert isinstance(answered, CapabilityView)
    assert [t.tactic for t in answered.tactics] == ["Other"]
