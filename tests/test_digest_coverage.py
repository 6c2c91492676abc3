"""The digest's coverage option: the channel's inventory against the watch list and the day's
techniques, on the real corpus, checked against the ordinary technique answers."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from sqlalchemy import Engine

from bot.answer import Answerer
from bot.config import Settings
from bot.digest.commands import parse_subscribe
from bot.digest.content import SubscriptionSpec, compose
from bot.digest.render import render_digest
from bot.render.limits import violations
from store.state.inventory import WORKSPACE, Control, add_controls
from store.state.scope import state_reads
from store.views import TechniqueView

NOW = dt.datetime(2026, 11, 28, 9, 1, tzinfo=dt.UTC)
WATCH = ("T1048", "T1566", "T1190", "T1003.001")


def spec(team: str, *, coverage: bool) -> SubscriptionSpec:
    return SubscriptionSpec(0, team, "C1", "09:00", "UTC", ("nist_800_53",), WATCH, True, coverage=coverage)


def digest(engine: Engine, s: SubscriptionSpec):  # type: ignore[no-untyped-def]
    with state_reads(engine) as data:
        return compose(data, [s], now=NOW, local_date_for=lambda _s: NOW.date())[0]


def nist_maps(answerer: Answerer, technique: str, control: str) -> bool:
    view = answerer.read(technique, frameworks=("nist_800_53",)).view
    assert isinstance(view, TechniqueView)
    return any(m.capability_id == control for sec in view.sections for g in sec.groups for m in g.lines)


def test_the_option_is_a_subscribe_word() -> None:
    assert parse_subscribe(["09:00", "coverage"])[0].coverage is True
    assert parse_subscribe(["nocoverage"])[0].coverage is False
    assert parse_subscribe(["09:00"])[0].coverage is None


def test_the_watch_list_coverage_matches_the_technique_answers(corpus_engine: Engine) -> None:
    team = f"T{uuid.uuid4().hex[:9].upper()}"
    add_controls(corpus_engine, team, WORKSPACE, [Control("nist_800_53", "SC-07")], "U1")
    view = digest(corpus_engine, spec(team, coverage=True))
    (watch,) = [r for r in view.coverage if r.subject.kind == "watch"]
    answerer = Answerer(corpus_engine, Settings())
    expected = {t for t in WATCH if nist_maps(answerer, t, "SC-07")}
    assert set(watch.coverage.covered) == expected and 0 < len(expected) < len(WATCH)
    rendered = render_digest(view, full=True)
    text = json.dumps(rendered.main.blocks, ensure_ascii=False)
    assert (
        "Your coverage" in text and f"Your controls cover {len(expected)} of {len(WATCH)} techniques" in text
    )
    assert violations(rendered.main.to_dict()) == []


def test_without_the_option_the_digest_says_nothing_of_coverage(corpus_engine: Engine) -> None:
    team = f"T{uuid.uuid4().hex[:9].upper()}"
    add_controls(corpus_engine, team, WORKSPACE, [Control("nist_800_53", "SC-07")], "U1")
    view = digest(corpus_engine, spec(team, coverage=False))
    assert view.coverage == () and "Your coverage" not in json.dumps(
        render_digest(view, full=True).main.blocks
    )


def test_the_option_without_an_inventory_says_how_to_make_one(corpus_engine: Engine) -> None:
    view = digest(corpus_engine, spec(f"T{uuid.uuid4().hex[:9].upper()}", coverage=True))
    text = json.dumps(render_digest(view, full=True).main.blocks)
    assert view.coverage == () and "No control inventory" in text
