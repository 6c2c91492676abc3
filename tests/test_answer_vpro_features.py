"""Intel vPro maps one capability to one technique once per enabling feature ("Win 11, Secure
Boot", "CrowdStrike AMS", …: its mapping types).  Issue 15 item 7: ``ask intel-tdt`` printed
"T1204.002 Malicious File Protect ●●● significant" twice, the feature only in ``--json``.
Every vPro answer, in the terminal and in Slack, now names the feature, so no line repeats."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.render.blocks import render_view
from bot.render.state import State
from bot.render.terminal import renderable
from store.db import session_scope
from store.models import Capability, Mapping
from store.reads.dispatch import build_view
from store.views import ViewRequest

VPRO = "intel-vpro"


@pytest.fixture(scope="module")
def session(corpus_engine: Engine) -> Iterator[Session]:
    with session_scope(corpus_engine) as s:
        yield s


def terminal(view: object) -> str:
    console = Console(file=io.StringIO(), width=300)
    console.print(renderable(view))  # type: ignore[arg-type]
    return console.file.getvalue()  # type: ignore[attr-defined]


def slack_sections(view: Any, request: ViewRequest) -> list[str]:
    first = render_view(view, State(request))
    pages = [first] + [render_view(view, State(request, page=p)) for p in range(2, first.pages + 1)]
    return [
        b["text"]["text"]
        for page in pages
        for b in page.blocks
        if b.get("type") == "section" and isinstance(b.get("text"), dict)
    ]


def repeated(lines: list[str]) -> list[str]:
    seen: set[str] = set()
    return [ln for ln in lines if ln in seen or seen.add(ln)]  # type: ignore[func-returns-value]


def terminal_blocks(text: str) -> list[list[str]]:
    """The indented lines under each heading (a tactic, a group)."""
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("  ") and blocks:
            blocks[-1].append(line.rstrip())
        elif line.strip():
            blocks.append([])
    return blocks


def vpro_capabilities(session: Session) -> list[str]:
    ids = session.scalars(select(Capability.capability_id).where(Capability.framework == VPRO).distinct())
    return sorted(ids)


def test_intel_tdt_names_the_feature_of_each_malicious_file_mapping(session: Session) -> None:
    request = ViewRequest("capability", capabilities=((VPRO, "intel-tdt"),), frameworks=(VPRO,))
    shown = terminal(build_view(session, request))
    protect = [ln for ln in shown.splitlines() if "T1204.002" in ln and "Protect" in ln]
    assert sorted(ln.split("significant")[1].strip() for ln in protect) == [
        "· CrowdStrike AMS",
        "· Microsoft Defender",
    ]


def test_no_vpro_capability_answer_repeats_a_line_in_the_terminal_or_slack(session: Session) -> None:
    capabilities = vpro_capabilities(session)
    assert len(capabilities) >= 5
    problems = []
    for cid in capabilities:
        request = ViewRequest("capability", capabilities=((VPRO, cid),), frameworks=(VPRO,))
        view = build_view(session, request)
        for block in terminal_blocks(terminal(view)):
            problems += [f"{cid} terminal: {ln}" for ln in repeated(block)]
        for section in slack_sections(view, request):
            problems += [f"{cid} slack: {ln}" for ln in repeated(section.splitlines())]
    assert problems == []


def test_a_technique_answer_in_vpro_heads_each_feature_of_its_own(session: Session) -> None:
    techniques = session.scalars(
        select(Mapping.attack_id).where(Mapping.framework == VPRO, Mapping.attack_id.is_not(None)).distinct()
    ).all()
    problems = []
    for tid in sorted(techniques):
        request = ViewRequest("technique", (tid,), frameworks=(VPRO,))
        view = build_view(session, request)
        headings = [ln for ln in terminal(view).splitlines() if ln[:1] in ("P", "D", "R") and "(" in ln]
        problems += [f"{tid} terminal: {h}" for h in repeated(headings)]
        sections = slack_sections(view, request)
        marks = [s.splitlines()[0] for s in sections if "*Protect*" in s or "*Detect*" in s]
        problems += [f"{tid} slack: {m}" for m in repeated(marks)]
    assert problems == []


def test_a_framework_whose_type_only_says_scored_shows_no_feature(session: Session) -> None:
    request = ViewRequest("technique", ("T1078",), frameworks=("aws", "m365"))
    shown = terminal(build_view(session, request))
    assert "Protect" in shown and "· Technique" not in shown and "technique_score" not in shown
