"""Mobile and ICS techniques are answered with the frameworks that have a release for their
domain, and the answer says so (issue 15 item 8): ``ask T1660`` said "No mobile release of
NIST 800-53, Microsoft 365 matches" while listing KEV and VERIS mappings it did not show."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from bot.answer import Answerer
from bot.config import Settings
from store.db import session_scope
from store.models import Mapping, Release, Technique
from store.views import TechniqueView


@pytest.fixture(scope="module")
def answerer(corpus_engine: Engine) -> Answerer:
    return Answerer(corpus_engine, Settings())


def _mapped_by_domain(engine: Engine, domain: str) -> dict[str, set[str]]:
    """Technique → frameworks whose newest release of the domain maps it, from the rows."""
    with session_scope(engine) as s:
        rows = s.execute(
            select(Mapping.attack_id, Release.framework)
            .join(Release, Release.id == Mapping.release_id)
            .join(Technique, Technique.attack_id == Mapping.attack_id)
            .where(Release.domain == domain, Technique.domain == domain, Mapping.capability_id.is_not(None))
            .group_by(Mapping.attack_id, Release.framework)
        ).all()
        default_has = s.execute(
            select(func.count())
            .select_from(Release)
            .where(Release.domain == domain, Release.framework.in_(Settings().default_frameworks))
        ).scalar_one()
    assert default_has == 0, f"the default frameworks now have a {domain} release: this test needs new data"
    out: dict[str, set[str]] = {}
    for tid, fw in rows:
        out.setdefault(tid, set()).add(fw)
    return out


@pytest.mark.parametrize(("domain", "word"), [("mobile", "mobile"), ("ics", "ICS")])
def test_every_mapped_technique_of_the_domain_is_answered_in_the_frameworks_that_have_it(
    answerer: Answerer, corpus_engine: Engine, domain: str, word: str
) -> None:
    mapped = _mapped_by_domain(corpus_engine, domain)
    assert mapped
    for tid in sorted(mapped):
        ans = answerer.read(tid)
        view = ans.view
        assert isinstance(view, TechniqueView), tid
        shown = {s.framework for s in view.sections}
        assert shown, f"{tid}: no framework shown"
        assert sum(s.total for s in view.sections) > 0, f"{tid}: 0 mappings shown"
        assert all(s.release.domain == domain for s in view.sections)
        assert any(f"no {word} release; answering with the frameworks that do" in n for n in view.notes), tid
        assert not view.also_mapped_in or set(dict(view.also_mapped_in)) <= mapped[tid] - shown


def test_t1660_shows_its_kev_and_veris_mappings(answerer: Answerer) -> None:
    ans = answerer.answer("T1660")
    view = ans.view
    assert isinstance(view, TechniqueView)
    assert {s.framework for s in view.sections} == {"kev", "veris"}
    assert view.notes[0].startswith("NIST 800-53 and Microsoft 365 have no mobile release")
    assert "No mobile release" not in ans.payload.text


def test_named_frameworks_with_a_release_are_kept(answerer: Answerer) -> None:
    view = answerer.answer("T1660 veris").view
    assert isinstance(view, TechniqueView)
    assert [s.framework for s in view.sections] == ["veris"]
    assert not any("answering with the frameworks that do" in n for n in view.notes)
