"""Filters never make a framework look empty, and named frameworks mean "answer in these".

Before the fix ``which controls detect T1566?`` said NIST 800-53 rev5 had "0 mappings" (NIST
mappings carry no protect/detect/respond category), and ``T1048 aws azure`` gave a count table
with no controls instead of the answer in AWS and Azure.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from rich.console import Console
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.answer import Answerer
from bot.config import ALL_FRAMEWORKS, Settings
from bot.render.terminal import renderable
from store.db import session_scope
from store.models import Capability, Mapping
from store.reads.dispatch import build_view
from store.views import CapabilityView, CompareView, Filters, TechniqueView, ViewRequest

FILTERS = (
    Filters(categories=("protect",)),
    Filters(categories=("detect",)),
    Filters(categories=("respond",)),
    Filters(min_score="significant"),
)


@pytest.fixture(scope="module")
def answerer(corpus_engine: Engine) -> Answerer:
    return Answerer(corpus_engine, Settings())


@pytest.fixture(scope="module")
def session(corpus_engine: Engine) -> Iterator[Session]:
    with session_scope(corpus_engine) as s:
        yield s


def _terminal(view: object) -> str:
    console = Console(file=io.StringIO(), width=300)
    console.print(renderable(view))  # type: ignore[arg-type]
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_detect_filter_keeps_nist_mappings_and_says_why(answerer: Answerer) -> None:
    ans = answerer.read("which controls detect T1566?")
    view = ans.view
    assert isinstance(view, TechniqueView)
    nist = next(s for s in view.sections if s.framework == "nist_800_53")
    assert nist.total > 0
    assert any("NIST 800-53 mappings carry no protect/detect/respond category" in n for n in view.notes)
    assert "— 0 mappings" not in _terminal(view)


def test_significant_only_keeps_unscored_frameworks(answerer: Answerer) -> None:
    ans = answerer.read("T1566 significant only")
    nist = next(s for s in ans.view.sections if s.framework == "nist_800_53")
    assert nist.total > 0
    assert any("carry no score" in n for n in ans.view.notes)


def test_scored_framework_still_filtered(answerer: Answerer) -> None:
    ans = answerer.read("which controls detect T1566?")
    m365 = next(s for s in ans.view.sections if s.framework == "m365")
    assert m365.total > 0 and m365.hidden > 0
    assert all(g.score_category == "detect" for g in m365.groups)


def test_two_frameworks_typed_answer_in_those_frameworks(answerer: Answerer) -> None:
    ans = answerer.read("T1048 aws azure")
    assert isinstance(ans.view, TechniqueView)
    assert [s.framework for s in ans.view.sections] == ["aws", "azure"]
    assert all(s.groups for s in ans.view.sections)


def test_compare_names_the_best_controls_per_framework(answerer: Answerer) -> None:
    ans = answerer.read("compare T1048 aws vs azure")
    assert isinstance(ans.view, CompareView)
    best = dict(ans.view.best)
    assert set(best) == {"aws", "azure"}
    assert all(best[fw] for fw in best)
    text = _terminal(ans.view)
    assert "Best AWS controls" in text and best["azure"][0].capability_id in text


def _never_zero(view: object, reference: object, problems: list[str], what: str) -> None:
    """No release that maps the subject shows as empty; an empty section (its mappings all
    filtered out) says so in the answer.  The answer is rendered when a section is empty: a
    section's count is what both renderings print, and rendering costs 9x building the view."""
    if isinstance(view, TechniqueView) and isinstance(reference, TechniqueView):
        text = _terminal(view) if any(sec.total == 0 for sec in view.sections) else ""
        if (
            text
            and "— 0 mappings" in text
            and not any(sec.total == 0 and not sec.hidden for sec in view.sections)
        ):
            problems.append(f"{what}: the answer says 0 mappings for a section that has some")
        maps = {s.framework: s.total for s in reference.sections}
        for sec in view.sections:
            if maps.get(sec.framework) and sec.total == 0 and not sec.hidden:
                problems.append(f"{what} {sec.framework}: says 0 mappings")
            if sec.hidden and sec.total == 0 and f"— 0 of {sec.hidden} mappings match" not in text:
                problems.append(f"{what} {sec.framework}: the empty section does not say why")
    if (
        isinstance(view, CapabilityView)
        and isinstance(reference, CapabilityView)
        and reference.total
        and view.total == 0
        and not view.notes
    ):
        problems.append(f"{what}: 0 shown, no note")


@pytest.mark.slow
@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: "-".join(f.categories) or f"min-{f.min_score}")
def test_every_technique_answer_with_each_filter_never_shows_a_mapped_release_as_empty(
    session: Session, backend: str, filters: Filters
) -> None:
    """Every technique the mapping files name (SQLite; every 12th on PostgreSQL), one filter
    per test so that each stays within a minute."""
    ids = sorted(set(session.scalars(select(Mapping.attack_id).where(Mapping.attack_id.is_not(None))).all()))
    assert len(ids) > 800
    stride = 1 if backend == "sqlite" else 12
    problems: list[str] = []
    for tid in ids[::stride]:
        reference = build_view(session, ViewRequest("technique", (tid,), frameworks=ALL_FRAMEWORKS))
        request = ViewRequest("technique", (tid,), frameworks=ALL_FRAMEWORKS, filters=filters)
        _never_zero(build_view(session, request), reference, problems, f"{tid} {filters}")
    assert problems == []


@pytest.mark.slow
def test_every_capability_answer_with_each_filter_says_why_when_empty(session: Session, backend: str) -> None:
    caps = sorted(session.execute(select(Capability.framework, Capability.capability_id)).all())
    caps = [c for c in caps if c[0] != "kev"]
    stride = 1 if backend == "sqlite" else 12
    problems: list[str] = []
    for fw, cid in caps[::stride]:
        reference = build_view(session, ViewRequest("capability", capabilities=((fw, cid),)))
        for f in FILTERS:
            view = build_view(session, ViewRequest("capability", capabilities=((fw, cid),), filters=f))
            _never_zero(view, reference, problems, f"{fw}:{cid} {f}")
    assert problems == []
