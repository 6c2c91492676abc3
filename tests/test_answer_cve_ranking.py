"""A CVE's best controls put the obvious remedy first and say how they are ranked (issue 15
item 13): MOVEit (CVE-2023-34362) never showed NIST SI-02 Flaw Remediation, because controls were
ranked only by how many of the CVE's seven techniques they cover."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from rich.console import Console
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.render.blocks import render_view
from bot.render.state import State
from bot.render.terminal import renderable
from store.db import session_scope
from store.models import Mapping, Release
from store.reads.cves import remediates
from store.reads.dispatch import build_view
from store.views import CveView, ViewRequest

FRAMEWORKS = ("nist_800_53", "m365", "azure", "cri_profile")


@pytest.fixture(scope="module")
def session(corpus_engine: Engine) -> Iterator[Session]:
    with session_scope(corpus_engine) as s:
        yield s


def cve(session: Session, cve_id: str) -> CveView:
    view = build_view(session, ViewRequest("cve", capabilities=(("kev", cve_id),), frameworks=FRAMEWORKS))
    assert isinstance(view, CveView)
    return view


def test_moveit_shows_flaw_remediation_among_the_best_nist_controls(session: Session) -> None:
    view = cve(session, "CVE-2023-34362")
    nist = dict(view.controls)["nist_800_53"]
    assert "SI-02" in [c.capability_id for c in nist]
    assert view.exploited == ("T1190",)


def test_the_ranking_is_explained_in_the_terminal_and_in_slack(session: Session) -> None:
    view = cve(session, "CVE-2023-34362")
    console = Console(file=io.StringIO(), width=400)
    console.print(renderable(view))
    said = "fix the flaw itself (patching, vulnerability management) and stop its exploitation (T1190) first"
    assert said in console.file.getvalue()  # type: ignore[attr-defined]
    rendered = render_view(view, State(ViewRequest("cve", capabilities=(("kev", "CVE-2023-34362"),))))
    assert said in str(rendered.blocks)


def remedies_stopping(session: Session, view: CveView, framework: str) -> set[str]:
    """Worked out from the mapping rows, apart from the view: the controls of ``framework``'s
    release shown that are named for fixing the flaw and map one of its exploitation techniques."""
    refs = [r for r in view.control_releases if r.framework == framework]
    pks = [
        session.scalar(
            select(Release.id).where(
                Release.framework == r.framework,
                Release.framework_version == r.framework_version,
                Release.attack_version == r.attack_version,
                Release.domain == r.domain,
            )
        )
        for r in refs
    ]
    rows = session.execute(
        select(Mapping.capability_id, Mapping.capability_name).where(
            Mapping.release_id.in_(pks), Mapping.attack_id.in_(view.exploited)
        )
    ).all()
    return {cid for cid, name in rows if cid and remediates(name or "")}


@pytest.mark.slow
def test_remedies_that_stop_the_exploitation_come_first_for_every_kev_cve(session: Session) -> None:
    """Every CVE in KEV, in NIST 800-53: when some control fixing the flaw maps its exploitation
    technique, the list starts with such controls (as many as there are, up to the list's
    length), before any other."""
    cves = session.scalars(select(Mapping.capability_id).where(Mapping.framework == "kev").distinct()).all()
    assert len(cves) > 300
    checked = 0
    problems = []
    for cid in sorted(c for c in cves if c):
        view = cve(session, cid)
        nist = [c.capability_id for c in dict(view.controls).get("nist_800_53", ())]
        remedies = remedies_stopping(session, view, "nist_800_53")
        if not remedies or not nist:
            continue
        checked += 1
        head = nist[: min(len(remedies), len(nist))]
        if set(head) - remedies:
            problems.append(f"{cid}: {nist} (remedies {sorted(remedies)})")
    assert checked > 100
    assert problems == []
