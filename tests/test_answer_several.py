"""Several entities in one question get one line each, never an accidental pair; IDs that do
not exist say so and offer the nearest; the terminal and --json carry the notes Slack shows
(issue 15 items 2 and 6).  On the real corpus: each line is checked against the entity's own
full answer, so a line never says what its answer would not."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sqlalchemy import Engine

from bot import actions
from bot.answer import Answerer
from bot.cli import main
from bot.config import Settings
from bot.render.limits import violations
from bot.render.state import decode_state
from store.views import CveView, MessageView, MultiView, PairView, TechniqueView

SHORTCUT_TEXT = (
    "<https://attack.mitre.org/techniques/T1003/001/|LSASS dump> then T1021.002 and CVE-2021-44228"
)


@pytest.fixture(scope="module")
def answerer(corpus_engine: Engine) -> Answerer:
    return Answerer(corpus_engine, Settings())


def _open_values(payload: dict[str, Any]) -> list[str]:
    pattern = actions.matcher(actions.OPEN)
    return [
        b["accessory"]["value"]
        for b in payload["blocks"]
        if "accessory" in b and pattern.match(b["accessory"]["action_id"])
    ]


def _ask(corpus_url: str, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["--db", corpus_url, "ask", *args])
    return code, capsys.readouterr().out


def test_two_techniques_get_a_line_each_that_agrees_with_their_own_answers(answerer: Answerer) -> None:
    ans = answerer.answer("T1048 T1566")
    assert ans.ok and isinstance(ans.view, MultiView)
    assert [(e.kind, e.id) for e in ans.view.entries] == [("technique", "T1048"), ("technique", "T1566")]
    for e in ans.view.entries:
        own = answerer.answer(e.id).view
        assert isinstance(own, TechniqueView)
        assert e.total == sum(s.total for s in own.sections) > 0
        shown = {ln.capability_id for s in own.sections for g in s.groups for ln in g.lines}
        assert e.controls and {c.capability_id for c in e.controls} <= shown
    payload = ans.payload.to_dict()
    assert violations(payload) == []
    opened = [decode_state(v).request for v in _open_values(payload)]
    assert [(r.kind, r.techniques) for r in opened] == [("technique", ("T1048",)), ("technique", ("T1566",))]
    assert "T1566" in payload["text"] and "T1048" in payload["text"]


def test_a_message_with_a_link_a_technique_and_a_cve_is_three_answers_not_a_pair(answerer: Answerer) -> None:
    ans = answerer.answer(SHORTCUT_TEXT)
    assert isinstance(ans.view, MultiView)
    assert [(e.kind, e.id) for e in ans.view.entries] == [
        ("technique", "T1003.001"),
        ("technique", "T1021.002"),
        ("cve", "CVE-2021-44228"),
    ]
    cve = answerer.answer("CVE-2021-44228").view
    assert isinstance(cve, CveView)
    assert ans.view.entries[2].total == len(cve.techniques) > 0
    assert "does not map" not in ans.payload.text


def test_a_technique_and_a_cve_are_not_a_pair(answerer: Answerer) -> None:
    ans = answerer.answer("T1048 CVE-2021-44228")
    assert isinstance(ans.view, MultiView)
    assert {e.kind for e in ans.view.entries} == {"technique", "cve"}


def test_one_technique_and_several_controls_say_for_each_control_whether_it_maps(answerer: Answerer) -> None:
    ans = answerer.answer("T1048 SC-07 AC-17")
    view = ans.view
    assert isinstance(view, MultiView) and view.technique is not None and view.technique.id == "T1048"
    assert [e.id for e in view.entries] == ["SC-07", "AC-17"]
    for e in view.entries:
        pair = answerer.answer(f"T1048 {e.id}").view
        assert isinstance(pair, PairView)
        assert e.mapped == bool(pair.releases and pair.releases[0].lines)
    assert violations(ans.payload.to_dict()) == []


def test_one_technique_and_one_control_is_still_a_pair(answerer: Answerer) -> None:
    assert isinstance(answerer.answer("T1048 SC-07").view, PairView)


def test_several_controls_alone_stay_a_together_answer(answerer: Answerer) -> None:
    from bot.coverage.views import TogetherAnswer

    assert isinstance(answerer.answer("SC-07 SI-04").view, TogetherAnswer)


def test_an_open_button_opens_that_entitys_full_answer(answerer: Answerer) -> None:
    ans = answerer.answer("T1048 CVE-2021-44228")
    values = _open_values(ans.payload.to_dict())
    assert len(values) == 2
    assert isinstance(answerer.answer_from_state(values[0]).view, TechniqueView)
    assert isinstance(answerer.answer_from_state(values[1]).view, CveView)


def test_a_sub_technique_that_does_not_exist_is_not_answered_as_its_parent(answerer: Answerer) -> None:
    ans = answerer.answer("T1048.009")
    assert not ans.ok and isinstance(ans.view, MessageView)
    assert "T1048.009 does not exist" in ans.view.text
    ids = [a.id for a in ans.view.alternatives]
    assert ids[0] == "T1048" and all(i == "T1048" or i.startswith("T1048.") for i in ids)
    assert "T1048.001" in ids


def test_a_missing_technique_next_to_a_real_one_gets_its_own_line(answerer: Answerer) -> None:
    ans = answerer.answer("T9999 T1048")
    assert isinstance(ans.view, MultiView)
    missing, real = ans.view.entries
    assert (missing.id, missing.known) == ("T9999", False) and missing.nearest
    assert real.id == "T1048" and real.total > 0
    assert "T9999" in ans.payload.text and "does not exist" in ans.payload.text


def test_ask_for_a_technique_that_does_not_exist_says_so_offers_the_nearest_and_fails(
    corpus_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _ask(corpus_url, capsys, "T9999")
    assert code != 0
    assert "T9999 does not exist in the loaded ATT&CK" in out
    assert "0 mappings" not in out and "Did you mean" in out
    code, out = _ask(corpus_url, capsys, "T9999", "--json")
    data = orjson.loads(out)
    assert code != 0 and data["ok"] is False
    alternatives = data["view"]["alternatives"]
    assert alternatives and all(a["kind"] == "technique" for a in alternatives)


def test_terminal_and_json_carry_the_notes_slack_shows(
    answerer: Answerer, corpus_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    slack = answerer.answer("AC-2(1)")
    shown = [
        el["text"]
        for b in slack.payload.blocks
        if b["type"] == "context"
        for el in b["elements"]
        if ":information_source:" in el.get("text", "")
    ]
    assert shown and "AC-2(1) is an enhancement" in shown[0]
    code, out = _ask(corpus_url, capsys, "AC-2(1)")
    assert code == 0 and "AC-2(1) is an enhancement; showing AC-02" in out.splitlines()[0]
    code, out = _ask(corpus_url, capsys, "AC-2(1)", "--json")
    assert orjson.loads(out)["notes"] == list(slack.notes) == ["AC-2(1) is an enhancement; showing AC-02"]


def test_a_multi_answer_renders_in_the_terminal_one_line_per_entity(
    corpus_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _ask(corpus_url, capsys, SHORTCUT_TEXT)
    assert code == 0
    bullets = [ln for ln in out.splitlines() if ln.startswith("• ")]
    assert [b.split()[1] for b in bullets] == ["T1003.001", "T1021.002", "CVE-2021-44228"]


@pytest.mark.parametrize("question", ["T1048.009", "T9999", "T1003.009"])
def test_did_you_mean_labels_name_each_id_once(
    answerer: Answerer, corpus_url: str, capsys: pytest.CaptureFixture[str], question: str
) -> None:
    """Issue 15 item 13: the labels read "T1048 T1048 Exfiltration Over Alternative Protocol"."""
    blocks = answerer.answer(question).payload.to_dict()["blocks"]
    labels = [
        el["text"]["text"]
        for b in blocks
        if b.get("type") == "actions"
        for el in b["elements"]
        if str(el.get("action_id", "")).startswith(actions.DID_YOU_MEAN)
    ]
    assert labels
    assert all(label.split()[0] != label.split()[1] for label in labels), labels
    _code, out = _ask(corpus_url, capsys, question)
    offered = [ln.split() for ln in out.splitlines() if ln.startswith("  T")]
    assert offered and all(words[0] != words[1] for words in offered), out


def test_a_control_that_does_not_exist_is_a_did_you_mean_not_an_empty_answer(
    answerer: Answerer, corpus_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``SC-99`` was a capability answer headed "SC-99 SC-99" with "0 technique mappings"."""
    ans = answerer.answer("SC-99")
    assert not ans.ok and isinstance(ans.view, MessageView)
    assert "0 technique mappings" not in ans.payload.text
    ids = [a.id for a in ans.view.alternatives]
    assert ids and all(i.startswith("SC-") for i in ids) and "SC-44" in ids
    code, out = _ask(corpus_url, capsys, "SC-99")
    assert code == 1 and "SC-99 is not a NIST 800-53 control in the loaded data" in out
    assert answerer.answer("SC-07").ok


def test_a_control_that_does_not_exist_next_to_a_technique_is_not_a_pair(answerer: Answerer) -> None:
    """``T1048 SC-99`` was a pair answer headed "SC-99 SC-99 … does not map T1048"."""
    ans = answerer.answer("T1048 SC-99")
    assert isinstance(ans.view, TechniqueView) and ans.view.header.id == "T1048"
    assert "SC-99 is not a NIST 800-53 control in the loaded data" in ans.payload.text + str(
        ans.payload.blocks
    )
    assert isinstance(answerer.answer("T1048 SC-07").view, PairView)
