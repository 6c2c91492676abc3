"""Every answer the corpus can produce is a message Slack accepts.

For every technique ID (ATT&CK objects and IDs only mapping files use), every capability and
every pair of T1048 (and its sub-techniques) with the capabilities mapped to it, each page of
the rendered payload (and the compact card, and every mapping's detail for T1048) passes
``slack_sdk``'s ``to_dict()`` (every block parsed back, validated, and given back unchanged)
and our checks of what slack_sdk leaves out.  Rendered
in-process over the session-scoped corpus: every entity on SQLite, every 4th on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.config import ALL_FRAMEWORKS
from bot.render.blocks import render_view
from bot.render.details import find_line
from bot.render.limits import violations
from bot.render.state import State, decode_state
from store.db import session_scope
from store.models import Capability, Mapping, Technique
from store.reads.dispatch import build_view
from store.views import MessageView, TechniqueView, ViewRequest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def session(corpus_engine: Engine) -> Iterator[Session]:
    with session_scope(corpus_engine) as s:
        # As the Answerer does: what changes only with the data version, read once.
        yield s


def _stride(backend: str) -> int:
    """Every entity on SQLite; every 4th on PostgreSQL, where the views are the same code over
    the same rows and the run would otherwise take minutes of the suite's shared budget."""
    return 1 if backend == "sqlite" else 4


def _check_all_pages(session: Session, request: ViewRequest, problems: list[str]) -> object:
    """Every page valid, slack_sdk's validators included (``reparse``)."""
    view = build_view(session, request)
    assert not isinstance(view, MessageView), request
    first = render_view(view, State(request))
    for page in range(1, first.pages + 1):
        out = first if page == 1 else render_view(view, State(request, page=page))
        for p in violations({"text": out.text, "blocks": out.blocks}, reparse=True):
            problems.append(f"{request.kind} {request.techniques or request.capabilities} p{page}: {p}")
        # Every button value must decode back to a state we accept.
        for block in out.blocks:
            elements = block.get("elements", []) + ([block["accessory"]] if "accessory" in block else [])
            for el in elements:
                if isinstance(el, dict) and "value" in el:
                    decode_state(el["value"])
    return view


def test_every_technique_renders_within_slack_limits(session: Session, backend: str) -> None:
    ids = set(session.scalars(select(Technique.attack_id)).all())
    ids |= set(
        session.scalars(select(Mapping.attack_id).where(Mapping.attack_id.is_not(None)).distinct()).all()
    )
    assert len(ids) > 1000
    problems: list[str] = []
    for tid in sorted(ids)[:: _stride(backend)]:
        request = ViewRequest("technique", (tid,), frameworks=ALL_FRAMEWORKS)
        view = _check_all_pages(session, request, problems)
        assert isinstance(view, TechniqueView)
        card = render_view(view, State(request, compact=True))
        problems.extend(
            f"card {tid}: {p}" for p in violations({"text": card.text, "blocks": card.blocks}, reparse=True)
        )
    assert problems == []


def test_every_capability_renders_within_slack_limits(session: Session, backend: str) -> None:
    caps = session.execute(select(Capability.framework, Capability.capability_id)).all()
    assert len(caps) > 1000
    problems: list[str] = []
    for fw, cid in sorted(caps)[:: _stride(backend)]:
        kind = "cve" if fw == "kev" else "capability"
        frameworks = ("nist_800_53", "m365") if kind == "cve" else ()
        _check_all_pages(
            session, ViewRequest(kind, capabilities=((fw, cid),), frameworks=frameworks), problems
        )
    assert problems == []


def test_every_t1048_pair_and_mapping_detail_renders_within_slack_limits(session: Session) -> None:
    family = ["T1048", "T1048.001", "T1048.002", "T1048.003"]
    pairs = session.execute(
        select(Mapping.attack_id, Mapping.framework, Mapping.capability_id)
        .where(Mapping.attack_id.in_(family), Mapping.capability_id.is_not(None))
        .distinct()
    ).all()
    assert len(pairs) > 100
    problems: list[str] = []
    for tid, fw, cid in pairs:
        _check_all_pages(session, ViewRequest("pair", (tid,), ((fw, cid),)), problems)
    details = 0
    for tid in family:
        request = ViewRequest("technique", (tid,), frameworks=ALL_FRAMEWORKS)
        view = build_view(session, request)
        assert isinstance(view, TechniqueView)
        for sec in view.sections:
            for g in sec.groups:
                for line in g.lines:
                    assert find_line(view, line.key) is not None
                    out = render_view(view, State(request, expanded=line.key))
                    details += 1
                    problems.extend(
                        f"detail {line.key}: {p}"
                        for p in violations({"text": out.text, "blocks": out.blocks})
                    )
    assert details > 50
    assert problems == []


def _docs(session: Session, backend: str) -> Iterator[tuple[str, object]]:
    """Every technique and capability answer of the corpus, laid out before pagination."""
    from bot.render.blocks import _DOCS, _Message

    techniques = sorted(set(session.scalars(select(Technique.attack_id)).all()))
    caps = sorted(session.execute(select(Capability.framework, Capability.capability_id)).all())
    requests = [ViewRequest("technique", (t,), frameworks=ALL_FRAMEWORKS) for t in techniques]
    requests += [
        ViewRequest(
            "cve" if fw == "kev" else "capability",
            capabilities=((fw, cid),),
            frameworks=("nist_800_53", "m365") if fw == "kev" else (),
        )
        for fw, cid in caps
    ]
    for request in requests[:: _stride(backend)]:
        view = build_view(session, request)
        yield (
            f"{request.kind} {request.techniques or request.capabilities}",
            _DOCS[type(view)](view, State(request), _Message()),
        )


def test_page_sizes_known_before_building_equal_the_built_blocks_sizes(
    session: Session, backend: str
) -> None:
    """Pages are cut from each item's block count and text length, known before its blocks are
    built (a section's from its text; built items' read off the slack_sdk objects); on every
    answer of the corpus those equal what ``to_dict()`` of the built blocks gives, and the
    fast writer gives exactly ``to_dict()``'s dicts."""
    from bot.render.limits import total_text
    from bot.render.pages import Message, built, cost, text_len
    from bot.render.serialize import as_dict

    checked = 0
    msg = Message()
    for what, doc in _docs(session, backend):
        for item in doc.items:  # type: ignore[attr-defined]
            blocks = built(item, msg)
            want = [b.to_dict() for b in blocks]
            assert cost(item) == (len(blocks), total_text(want)), what
            assert [as_dict(b) for b in blocks] == want, what
            checked += 1
        intro = doc.intro  # type: ignore[attr-defined]
        assert sum(text_len(b) for b in intro) == total_text([b.to_dict() for b in intro]), what
        assert [as_dict(b) for b in intro] == [b.to_dict() for b in intro], what
        tools = [t for t in doc.tools if t is not None]  # type: ignore[attr-defined]
        assert sum(text_len(t) for t in tools) == total_text([t.to_dict() for t in tools]), what
        assert [as_dict(t) for t in tools] == [t.to_dict() for t in tools], what
    assert checked > 10_000 // _stride(backend)
