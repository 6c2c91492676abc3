"""Every group, software and campaign answer is a message Slack accepts (issue 13 item 4).

Each threat of every domain with the default frameworks (every 3rd with four others at once):
every page of its answer, its "show all" pages and (every 10th) each procedure page pass slack_sdk's
validators and our checks (``violations(..., reparse=True)``), and every button and menu value
decodes.  Every threat on SQLite; every 4th on PostgreSQL (the same code over the same rows).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.render.limits import violations
from bot.render.state import State, decode_state
from bot.render.threat import render_threat
from store.db import session_scope
from store.models import Threat
from store.reads.dispatch import build_view
from store.threat_views import ThreatView
from store.views import ViewRequest

pytestmark = pytest.mark.slow

FRAMEWORK_SETS = (("nist_800_53", "m365"), ("aws", "azure", "gcp", "veris"))


@pytest.fixture(scope="module")
def session(corpus_engine: Engine) -> Iterator[Session]:
    with session_scope(corpus_engine) as s:
        yield s


def _values(blocks: list[dict[str, Any]]) -> Iterator[str]:
    for b in blocks:
        for el in [*b.get("elements", []), b.get("accessory") or {}]:
            if not isinstance(el, dict):
                continue
            if "value" in el:
                yield el["value"]
            for o in el.get("options", []):
                yield o["value"]


def _check(view: ThreatView, state: State, problems: list[str]) -> int:
    first = render_threat(view, state)
    for page in range(1, first.pages + 1):
        out = first if page == 1 else render_threat(view, state.with_(page=page))
        for p in violations({"text": out.text, "blocks": out.blocks}, reparse=True):
            problems.append(f"{view.threat.attack_id} {state.expanded or ''} p{page}: {p}")
        for value in _values(out.blocks):
            decode_state(value)
    return first.pages


def test_every_threat_answer_fits_slack_on_every_page(session: Session, backend: str) -> None:
    ids = sorted(set(session.scalars(select(Threat.attack_id))))
    assert len(ids) > 1000
    stride = 1 if backend == "sqlite" else 4
    problems: list[str] = []
    big = 0
    for n, attack_id in enumerate(ids[::stride]):
        for frameworks in FRAMEWORK_SETS if n % 3 == 0 else FRAMEWORK_SETS[:1]:
            request = ViewRequest("threat", frameworks=frameworks, threat=attack_id)
            view = build_view(session, request)
            assert isinstance(view, ThreatView), attack_id
            big += len(view.technique_ids) > 60 and frameworks == FRAMEWORK_SETS[0]
            _check(view, State(request), problems)
            for fc in view.coverage:
                _check(view, State(request, expanded=f"fw:{fc.framework}"), problems)
            if n % 10 == 0 and frameworks == FRAMEWORK_SETS[0]:
                for p in view.procedures:
                    _check(view, State(request, expanded=f"p:{p.technique_id}"), problems)
    assert problems == [], problems[:20]
    assert big >= (5 if backend == "sqlite" else 1)  # the biggest actors and software were among them
