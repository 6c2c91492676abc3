"""Coverage lines on answers once a team has an inventory ("✓ yours"), on the real corpus: the
controls marked are exactly the inventory's controls that the answer's own data maps, CVE answers
count covered techniques, and without an inventory an answer is byte for byte what it was."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from bot.answer import Answer, Answerer
from bot.config import Settings
from bot.render.limits import violations
from store.state.inventory import WORKSPACE, Control, Inventory
from store.views import CveView, TechniqueView
from tests.slack_harness import CHANNEL, SlackUnderTest, running_app

MINE = (("nist_800_53", "SC-07"), ("aws", "amazon_guardduty"), ("m365", "DEF-ATH-E5"))


def inventory(
    *keys: tuple[str, str], planned: tuple[tuple[str, str], ...] = (), channel: str = WORKSPACE
) -> Inventory:
    controls = [Control(fw, cid) for fw, cid in keys] + [Control(fw, cid, "planned") for fw, cid in planned]
    return Inventory("T0TEAM001", channel, tuple(controls), 1, "U1", dt.datetime.now(dt.UTC))


@pytest.fixture(scope="module")
def answerer(corpus_engine: Engine) -> Answerer:
    return Answerer(corpus_engine, Settings())


def mapped_in(answerer: Answerer, technique: str, framework: str) -> set[str]:
    """The capabilities a framework's newest release maps to ``technique``, read off the ordinary
    technique answer for that framework (not the coverage code)."""
    view = answerer.read(technique, frameworks=(framework,)).view
    assert isinstance(view, TechniqueView)
    return {m.capability_id for s in view.sections for g in s.groups for m in g.lines}


def yours_text(a: Answer) -> str:
    (block,) = [b for b in a.payload.blocks if b.get("block_id") == "cm_yours"]
    return str(block["text"]["text"])


@pytest.mark.parametrize("technique", ["T1048", "T1566.001", "T1190", "T1003.001"])
def test_a_technique_answer_marks_exactly_the_inventory_controls_that_map_it(
    answerer: Answerer, technique: str
) -> None:
    a = answerer.answer(technique, inventory=inventory(*MINE))
    expected = {cid for fw, cid in MINE if cid in mapped_in(answerer, technique, fw)}
    assert a.yours is not None
    assert {cid for _fw, cid in a.yours.coverage.covered.get(technique, ())} == expected
    line = yours_text(a)
    if expected:
        assert line.startswith("✓ *Yours* (workspace inventory):")
        assert all(f"`{cid}`" in line for cid in expected)
    else:
        assert "None of your controls" in line


def test_when_none_of_yours_maps_it_the_answer_says_so_and_names_what_to_add(answerer: Answerer) -> None:
    a = answerer.answer("T1566.001", inventory=inventory(("nist_800_53", "IA-02")))
    assert "IA-02" not in mapped_in(answerer, "T1566.001", "nist_800_53")
    line = yours_text(a)
    assert "None of your controls" in line and "`T1566.001`" in line
    assert "Closest to add" in line and "NIST 800-53" in line


def test_a_planned_control_that_would_cover_it_is_named(answerer: Answerer) -> None:
    a = answerer.answer(
        "T1048", inventory=inventory(("nist_800_53", "IA-02"), planned=(("nist_800_53", "SC-07"),))
    )
    assert "Planned, would cover it: `SC-07`" in yours_text(a)


def test_the_line_sits_under_the_header_and_keeps_the_answer_within_slacks_limits(answerer: Answerer) -> None:
    a = answerer.answer("T1048", inventory=inventory(*MINE))
    types = [b["type"] for b in a.payload.blocks]
    at = next(i for i, b in enumerate(a.payload.blocks) if b.get("block_id") == "cm_yours")
    assert types[0] == "header" and at <= 3 and types[at - 1] == "context"
    assert violations(a.payload.to_dict()) == []


def test_a_cve_answer_counts_the_techniques_your_controls_cover(answerer: Answerer) -> None:
    cve = "CVE-2023-34362"
    a = answerer.answer(cve, inventory=inventory(*MINE))
    assert isinstance(a.view, CveView) and a.yours is not None
    techniques = sorted({t.technique.id for t in a.view.techniques})
    covered = {t for t in techniques if any(cid in mapped_in(answerer, t, fw) for fw, cid in MINE)}
    assert set(a.yours.coverage.covered) == covered
    line = yours_text(a)
    assert f"Your controls cover {len(covered)} of {len(techniques)} techniques" in line
    assert f"/attack gaps {cve}" in line
    assert violations(a.payload.to_dict()) == []


def test_without_an_inventory_the_answer_is_unchanged(answerer: Answerer) -> None:
    for text in ("T1048", "CVE-2023-34362", "SC-07", "T1048 SC-07"):
        plain = answerer.answer(text)
        assert answerer.answer(text, inventory=None) == plain
        assert answerer.answer(text, inventory=inventory()) == plain  # an empty inventory
        assert plain.yours is None and all(b.get("block_id") != "cm_yours" for b in plain.payload.blocks)


def test_answers_about_no_technique_carry_no_coverage_line(answerer: Answerer) -> None:
    a = answerer.answer("SC-07", inventory=inventory(*MINE))
    assert a.yours is None and all(b.get("block_id") != "cm_yours" for b in a.payload.blocks)


def test_the_terminal_and_json_say_the_same(answerer: Answerer) -> None:
    from bot.cli.ask_cmd import answer_json
    from bot.render.yours import yours_text as plain_text

    a = answerer.read("T1048", inventory=inventory(*MINE))
    assert a.yours is not None
    assert plain_text(a.yours).startswith("✓ Yours (workspace inventory): ")
    assert b'"yours":' in answer_json(a)


# --------------------------------------------------------------------------- Slack, end to end


@pytest.fixture
def slack(corpus_engine: Engine, answerer: Answerer) -> Iterator[SlackUnderTest]:
    with running_app(corpus_engine, answerer) as s:
        s.fake.add_channel(CHANNEL, "soc")
        yield s


def _text(reply: dict) -> str:  # type: ignore[type-arg]
    return " ".join(b.get("text", {}).get("text", "") for b in reply.get("blocks", []))


def test_a_change_to_the_inventory_holds_on_the_next_answer(slack: SlackUnderTest) -> None:
    team = f"T{uuid.uuid4().hex[:9].upper()}"
    before = _text(slack.command("T1048", team_id=team).json())
    assert "Yours" not in before
    slack.command("inventory add SC-07", team_id=team)
    assert "✓ *Yours* (workspace inventory): `SC-07`" in _text(slack.command("T1048", team_id=team).json())
    slack.command("inventory channel add IA-02", team_id=team, channel_id=CHANNEL)
    in_channel = _text(slack.command("T1048", team_id=team, channel_id=CHANNEL).json())
    assert "None of your controls* (channel inventory)" in in_channel
    slack.command("inventory clear", team_id=team)
    elsewhere = _text(slack.command("T1048", team_id=team, channel_id="C0ELSEWHERE").json())
    assert "Yours" not in elsewhere and "None of your controls" not in elsewhere


def test_an_actor_view_is_covered_over_its_techniques(corpus_engine: Engine, answerer: Answerer) -> None:
    """Any view about a set of techniques (here ATT&CK's APT29) gets 'your controls cover N of M'."""
    from bot.coverage.overlay import answer_subject
    from store.db import session_scope
    from store.reads.threats import threat_by_id

    with session_scope(corpus_engine) as s:
        view = threat_by_id(s, "G0016", coverage=False)
    assert view is not None and len(view.technique_ids) > 20
    subject, techniques, domain = answer_subject(view)  # type: ignore[misc]
    assert (subject.kind, subject.id, domain) == ("actor", "G0016", "enterprise")
    assert techniques == view.technique_ids
