"""``what changed``: the releases the last sync or ingest loaded, against the release before each,
on both backends, from small hand-written releases."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.coverage.answers import Refusal, answer_coverage_question
from bot.coverage.questions import LastSyncQuestion, coverage_question
from bot.coverage.views import DiffAnswer
from bot.render.coverage import PLAIN, coverage_lines
from bot.resolution import Resolution
from store.ingest import ingest_paths
from tests.store_fixtures import mapping_document, mapping_row, write_json


def ask(engine: Engine, text: str) -> DiffAnswer | list[DiffAnswer] | Refusal | object:
    return answer_coverage_question(engine, text, Resolution(text, "unknown"), default_frameworks=())


@pytest.mark.parametrize(
    "text",
    ["what changed", "What's new?", "changes since the last sync", "what changed in the latest update",
     "what did the last sync change", "latest changes"],
)  # fmt: skip
def test_the_ways_of_asking_what_the_last_sync_changed(text: str) -> None:
    assert isinstance(coverage_question(text, Resolution(text, "unknown")), LastSyncQuestion)


@pytest.mark.parametrize("text", ["what changed for T1048 between rev4 and rev5", "new exfil tools", "T1048"])
def test_other_questions_are_not_taken_for_it(text: str) -> None:
    assert not isinstance(coverage_question(text, Resolution(text, "unknown")), LastSyncQuestion)


def test_before_anything_is_loaded_it_says_so(engine: Engine) -> None:
    found = ask(engine, "what changed")
    assert isinstance(found, Refusal) and "countermap sync" in found.message


def test_the_last_run_is_diffed_against_the_release_before_it(engine: Engine, tmp_path: Path) -> None:
    old = mapping_document(attack_version="15.1", rows=[
        mapping_row("SC-07", "T1048"), mapping_row("AC-02", "T1078"), mapping_row("SI-04", "T1059"),
    ])  # fmt: skip
    new = mapping_document(attack_version="16.1", rows=[
        mapping_row("SC-07", "T1048"), mapping_row("SI-04", "T1059", mapping_type="detects"),
        mapping_row("SI-04", "T1566"),
    ])  # fmt: skip
    ingest_paths(engine, [write_json(tmp_path / "a" / "nist-15.1.json", old)])
    first = ask(engine, "what changed")
    assert isinstance(first, Refusal) and "no earlier release" in first.message
    ingest_paths(engine, [write_json(tmp_path / "b" / "nist-16.1.json", new)])
    found = ask(engine, "what changed")
    assert isinstance(found, DiffAnswer) and found.subject_kind == "release"
    assert (found.before.attack_version, found.after.attack_version) == ("15.1", "16.1")
    d = found.diff
    assert [(c.capability_id, c.attack_id) for c in d.added] == [("SI-04", "T1566")]
    assert [(c.capability_id, c.attack_id) for c in d.removed] == [("AC-02", "T1078")]
    assert [(c.capability_id, c.attack_id) for c in d.changed] == [("SI-04", "T1059")]
    assert d.unchanged == 1
    text = "\n".join(coverage_lines(found, PLAIN))
    assert "ATT&CK 15.1 → NIST 800-53 rev5 · ATT&CK 16.1" in text and "Loaded by the last ingest" in text
