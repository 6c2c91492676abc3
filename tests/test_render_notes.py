"""Reads return facts; the words are bot's (issue 11): a view's notes are ``Note`` facts as read,
and the answer layer words them (``bot.render.notes``) once, for Block Kit, terminal and JSON."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from bot.answer import Answerer
from bot.config import Settings
from bot.render.notes import note_text, worded
from store.reads.scope import view_reads
from store.views import (
    Filters,
    MessageView,
    Note,
    NotLoaded,
    ReleaseRef,
    TechniqueView,
    ViewRequest,
)

SIGNIFICANT = Filters(min_score="significant")


@pytest.fixture(scope="module")
def answerer(corpus_engine: Engine) -> Answerer:
    return Answerer(corpus_engine, Settings())


def test_a_filter_the_framework_cannot_apply_is_read_as_a_fact(corpus_engine: Engine) -> None:
    request = ViewRequest("technique", ("T1566",), frameworks=("nist_800_53",), filters=SIGNIFICANT)
    with view_reads(corpus_engine) as data:
        view = data.view(request)
    assert isinstance(view, TechniqueView)
    [section] = view.sections
    assert view.notes == (
        Note("unfiltered", count=section.total, frameworks=("nist_800_53",), others=("score",)),
    )


def test_the_answer_carries_each_note_of_the_read_in_words(corpus_engine: Engine, answerer: Answerer) -> None:
    request = ViewRequest("technique", ("T1566",), frameworks=("nist_800_53", "m365"), filters=SIGNIFICANT)
    with view_reads(corpus_engine) as data:
        read = data.view(request)
    assert isinstance(read, TechniqueView) and read.notes
    answered = answerer.read("T1566 significant only").view
    assert isinstance(answered, TechniqueView)
    assert answered.notes == tuple(note_text(n) for n in read.notes)
    assert all(isinstance(n, str) for n in answered.notes)


def test_hidden_mappings_are_counted_in_the_singular_and_the_plural() -> None:
    assert note_text(Note("hidden", count=1)) == "1 mapping hidden by the category or score filter."
    assert note_text(Note("hidden", count=3)) == "3 mappings hidden by the category or score filter."
    assert note_text(Note("detect_hidden", count=1)) == "1 detect mapping below the minimum score not shown."


def test_frameworks_without_a_release_in_the_domain_are_named_with_the_ones_answering() -> None:
    note = Note("fell_back", frameworks=("nist_800_53", "m365"), others=("kev", "veris"), domain="ics")
    assert note_text(note) == (
        "NIST 800-53 and Microsoft 365 have no ICS release; answering with the frameworks that do: "
        "CISA KEV and VERIS."
    )


def test_no_matching_release_names_the_domain_only_when_there_is_one() -> None:
    assert note_text(Note("no_release", frameworks=("aws",), domain="mobile")) == (
        "No mobile release of AWS matches the filters."
    )
    assert note_text(Note("no_release", frameworks=("aws",))) == "No release of AWS matches the filters."


def test_a_capability_missing_from_the_release_names_the_release() -> None:
    release = ReleaseRef("nist_800_53", "rev5", "16.1", "enterprise")
    note = Note("not_in_release", subject="SC-99", release=release)
    assert note_text(note) == "SC-99 is not in NIST 800-53 rev5 · ATT&CK 16.1."


def test_a_request_naming_what_is_not_loaded_is_answered_with_a_message() -> None:
    view = worded(NotLoaded("technique", "T9999"))
    assert isinstance(view, MessageView)
    assert (view.title, view.text) == ("No such technique", "The loaded ATT&CK has no technique T9999.")
    assert worded(NotLoaded("threat", "G9999")).text == "G9999 is not in the loaded ATT&CK."  # type: ignore[union-attr]


def test_a_tactic_is_read_without_a_link_and_answered_with_its_attack_page(
    corpus_engine: Engine, answerer: Answerer
) -> None:
    with view_reads(corpus_engine) as data:
        read = data.view(ViewRequest("tactic", attack_object="TA0010", frameworks=("nist_800_53",)))
    assert read.subject.url is None  # type: ignore[union-attr]
    answered = answerer.read("TA0010").view
    assert answered.subject.url == "https://attack.mitre.org/tactics/TA0010/"  # type: ignore[union-attr]
