"""The Answerer behind every surface, on the real corpus: text and button state in, valid
Slack payloads (and exports) out."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine

from bot import actions
from bot.answer import Answerer
from bot.config import Settings
from bot.errors import UserFacingError
from bot.render.errors import error_payload
from bot.render.limits import violations
from bot.render.state import StateError, decode_state
from store.views import CapabilityView, CveView, MessageView, PairView, TechniqueView


@pytest.fixture(scope="module")
def answerer(corpus_engine: Engine) -> Answerer:
    return Answerer(corpus_engine, Settings())


def _elements(payload: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for block in payload["blocks"]:
        out.extend(e for e in block.get("elements", []) if isinstance(e, dict) and "action_id" in e)
        if "accessory" in block:
            out.append(block["accessory"])
    return out


def _value(payload: dict[str, Any], action: str) -> str:
    pattern = actions.matcher(action)
    return next(e["value"] for e in _elements(payload) if pattern.match(e["action_id"]))


def test_technique_question_gives_a_valid_technique_answer(answerer: Answerer) -> None:
    ans = answerer.answer("T1048")
    assert ans.ok and isinstance(ans.view, TechniqueView)
    assert ans.technique_ids == ("T1048",)
    assert [s.framework for s in ans.view.sections] == ["nist_800_53", "m365"]  # default frameworks
    payload = ans.payload.to_dict()
    assert violations(payload) == []
    assert payload["blocks"][0]["type"] == "header"
    assert "T1048" in payload["text"]


def test_pair_question_gives_the_pair_view(answerer: Answerer) -> None:
    ans = answerer.answer("T1048 SC-07")
    assert isinstance(ans.view, PairView) and ans.view.mapped
    assert ans.capability_ids == ("nist_800_53:SC-07",)


def test_capability_and_cve_questions(answerer: Answerer) -> None:
    assert isinstance(answerer.answer("SC-07").view, CapabilityView)
    cve = answerer.answer("CVE-2023-34362").view
    assert isinstance(cve, CveView) and any(t.technique.id == "T1190" for t in cve.techniques)


def test_unknown_text_is_a_did_you_mean_not_an_error(answerer: Answerer) -> None:
    ans = answerer.answer("exfiltration over alternativ protocol zzz <!channel>")
    payload = ans.payload.to_dict()
    assert violations(payload) == []
    assert "<!channel>" not in orjson.dumps(payload).decode()
    if not ans.ok:
        assert isinstance(ans.view, MessageView)


def test_next_page_button_renders_the_next_page_on_any_instance(
    answerer: Answerer, corpus_engine: Engine
) -> None:
    first = answerer.answer("T1190", frameworks=("kev",))
    assert first.pages > 1
    value = _value(first.payload.to_dict(), actions.PAGE)
    other = Answerer(corpus_engine, Settings())  # a different process would hold its own
    second = other.answer_from_state(value)
    assert second.page == 2 and second.pages == first.pages
    assert violations(second.payload.to_dict()) == []
    assert second.payload.blocks != first.payload.blocks


def test_details_button_shows_full_comments_and_license_then_back(answerer: Answerer) -> None:
    ans = answerer.answer("T1048", frameworks=("m365",))
    detail = answerer.answer_from_state(_value(ans.payload.to_dict(), actions.EXPAND))
    text = orjson.dumps(detail.payload.to_dict()).decode()
    assert "License requirements" in text and "References" in text
    assert violations(detail.payload.to_dict()) == []
    back = answerer.answer_from_state(_value(detail.payload.to_dict(), actions.COLLAPSE))
    assert back.payload.blocks == ans.payload.blocks


def test_share_renders_in_channel_form_attributed_without_share_button(answerer: Answerer) -> None:
    ans = answerer.answer("T1048")
    shared = answerer.answer_from_state(_value(ans.payload.to_dict(), actions.SHARE), shared_by="U0ABC123")
    payload = shared.payload.to_dict()
    assert violations(payload, allow_users=["U0ABC123"]) == []
    assert violations(payload)  # the only mention is the sharer
    assert "Shared by <@U0ABC123>" in orjson.dumps(payload).decode()
    assert not any(actions.matcher(actions.SHARE).match(e["action_id"]) for e in _elements(payload))


def test_forged_state_gives_a_clean_error_payload(answerer: Answerer) -> None:
    for value in ("garbage", 'cm1:{"k":"technique","t":["T1048"],"p":99999}', "cm1:{"):
        ans = answerer.answer_from_state(value)
        assert not ans.ok
        assert violations(ans.payload.to_dict()) == []
    with pytest.raises(StateError):
        answerer.export("garbage", "csv")


FORGED_STATES = {
    "a technique that does not exist": '{"k":"technique","t":["T9999"],"f":["nist_800_53"]}',
    "a framework that does not exist": '{"k":"technique","t":["T1048"],"f":["zz"]}',
    "a control that does not exist": '{"k":"capability","c":[["nist_800_53","ZZ-99"]]}',
    "a control of an unknown framework": '{"k":"capability","c":[["zz","SC-07"]]}',
    "a pair with a missing control": '{"k":"pair","t":["T1048"],"c":[["nist_800_53","ZZ-99"]]}',
    "a pair with a missing technique": '{"k":"pair","t":["T9999"],"c":[["nist_800_53","SC-07"]]}',
    "a CVE that is not in KEV": '{"k":"cve","c":[["kev","CVE-1999-99999"]],"f":["nist_800_53"]}',
    "a family that does not exist": '{"k":"group","g":["nist_800_53","ZZ"]}',
    "a framework answer for no framework": '{"k":"framework","f":["zz"]}',
    "a comparison of a missing technique": '{"k":"compare","t":["T9999"],"f":["nist_800_53","aws"]}',
}


@pytest.mark.parametrize("what", FORGED_STATES)
def test_a_state_naming_what_is_not_loaded_is_refused(answerer: Answerer, what: str) -> None:
    """A button value is public: a forged one must not render an empty answer ("ZZ-99 ZZ-99 -
    0 techniques"), nor export one."""
    value = "cm1:" + FORGED_STATES[what]
    ans = answerer.answer_from_state(value)
    assert not ans.ok and isinstance(ans.view, MessageView)
    assert "names something I don't have" in ans.payload.text
    assert "ZZ" not in ans.payload.text and "T9999" not in ans.payload.text  # the forgery is not echoed
    with pytest.raises(StateError):
        answerer.export(value, "csv")


QUESTIONS_OF_EVERY_KIND = (
    "T1048",
    "SC-07",
    "T1048 SC-07",
    "CVE-2023-34362",
    "compare T1566 across frameworks",
    "nist AC family",
    "aws",
    "T1566.001 in azure",
    "amazon guardduty",
    "veris action.hacking",
    "how do I detect T1003.001",
)


def test_the_bots_own_buttons_are_never_refused(answerer: Answerer) -> None:
    kinds = set()
    for question in QUESTIONS_OF_EVERY_KIND:
        ans = answerer.answer(question)
        payload = ans.payload.to_dict()
        values = [e["value"] for e in _elements(payload) if "value" in e]
        values += [o["value"] for e in _elements(payload) for o in e.get("options", [])]
        assert values, question
        for value in values:
            clicked = answerer.answer_from_state(value)
            assert clicked.ok, (question, value, clicked.payload.text)
            kinds.add(decode_state(value).request.kind)
    assert kinds == {
        "technique", "capability", "pair", "cve", "compare", "group", "framework", "detection", "users"
    }  # fmt: skip


def test_card_is_compact_and_opens_the_full_answer(answerer: Answerer) -> None:
    card = answerer.card("t1048")
    payload = card.payload.to_dict()
    assert violations(payload) == []
    assert len(payload["blocks"]) <= 6
    full = answerer.answer_from_state(_value(payload, actions.PAGE))
    assert len(full.payload.blocks) > len(payload["blocks"])
    assert not answerer.card("not-a-technique").ok


def test_csv_export_lists_the_mappings_of_the_view(answerer: Answerer) -> None:
    ans = answerer.answer("T1048", frameworks=("nist_800_53", "m365"))
    name, content = answerer.export(_value(ans.payload.to_dict(), actions.EXPORT_CSV), "csv")
    assert name == "countermap-T1048.csv"
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    view = ans.view
    assert isinstance(view, TechniqueView)
    assert len(rows) == sum(s.total for s in view.sections)
    m365 = [r for r in rows if r["framework"] == "m365"]
    assert all(r["score_category"] and r["score_value"] for r in m365)
    assert any(r["license_requirements"] for r in m365)


def test_navigator_layer_has_the_layer_4_5_shape(answerer: Answerer) -> None:
    ans = answerer.answer("T1048", frameworks=("m365",))
    name, content = answerer.export(_value(ans.payload.to_dict(), actions.EXPORT_NAVIGATOR), "navigator")
    assert name.endswith(".layer.json")
    layer = orjson.loads(content)
    assert layer["versions"]["layer"] == "4.5"
    view = ans.view
    assert isinstance(view, TechniqueView)
    # the ATT&CK version of the release shown (issue 15 item 10: it always said 18)
    assert layer["versions"]["attack"] == view.sections[0].release.attack_version.split(".")[0]
    assert layer["versions"]["navigator"].startswith("5")
    assert layer["domain"] == "enterprise-attack"
    assert {"name", "description", "techniques", "gradient", "legendItems"} <= set(layer)
    g = layer["gradient"]
    assert len(g["colors"]) >= 2 and g["minValue"] < g["maxValue"]
    assert all(re.fullmatch(r"#[0-9a-fA-F]{6}", c) for c in g["colors"])
    assert layer["legendItems"] and all({"label", "color"} <= set(i) for i in layer["legendItems"])
    scores = {t["techniqueID"]: t["score"] for t in layer["techniques"]}
    # sub-techniques are in the layer (counted: the view has their counts, not their scores),
    # so the layer scores every technique by its number of mappings
    assert scores["T1048"] == view.sections[0].total
    assert {s.id for s in view.subtechniques if s.count} <= set(scores)
    for t in layer["techniques"]:
        assert re.fullmatch(r"T\d{4}(\.\d{3})?", t["techniqueID"])
        assert g["minValue"] <= t["score"] <= g["maxValue"]
    with pytest.raises(ValueError):
        answerer.export(_value(ans.payload.to_dict(), actions.EXPORT_CSV), "pdf")


def test_navigator_layer_counts_mappings_for_unscored_frameworks(answerer: Answerer) -> None:
    ans = answerer.answer("SC-07")
    value = _value(ans.payload.to_dict(), actions.EXPORT_NAVIGATOR)
    assert decode_state(value).request.kind == "capability"
    layer = orjson.loads(answerer.export(value, "navigator")[1])
    assert "number of mappings" in layer["description"]
    assert all(t["score"] >= 1 for t in layer["techniques"])


def test_data_change_empties_the_caches(corpus_engine: Engine) -> None:
    ticks = iter(range(0, 1000, 10))
    a = Answerer(corpus_engine, Settings(), clock=lambda: float(next(ticks)), stale_check_seconds=5)
    first = a.answer("T1048")
    version = a.data_version
    assert version
    assert a.answer("T1048").payload is first.payload  # cached, same data version
    assert a.refresh_if_stale() is False
    a._version = "something older"  # as if the data had changed since
    assert a.refresh_if_stale() is True
    assert a.answer("T1048").payload is not first.payload


def test_answers_go_on_from_the_current_index_while_a_new_one_is_built(
    corpus_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a re-ingest the index is rebuilt (seconds); questions asked meanwhile are answered
    from the index in hand, not held until the build ends (a 2.8 s ack during a re-ingest)."""
    import threading

    import bot.answer

    fresh = Answerer(corpus_engine, Settings())
    assert fresh.refresh_if_stale()
    building, release = threading.Event(), threading.Event()
    real_build = bot.answer.build_index

    def held_build(*args: Any, **kwargs: Any) -> Any:
        building.set()
        release.wait(60)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(bot.answer, "build_index", held_build)  # the name the Answerer calls
    fresh._version = "the data version before a re-ingest"
    rebuild = threading.Thread(target=fresh.refresh_if_stale)
    rebuild.start()
    answers: list[Any] = []
    try:
        assert building.wait(30)
        asking = threading.Thread(target=lambda: answers.append(fresh.answer("T1048 SC-07")))
        asking.start()
        asking.join(timeout=30)  # done long before: the build is held until release
        answered_during_build = bool(answers)
        assert not fresh.refresh_if_stale()  # a second caller does not wait for, or repeat, the build
    finally:
        release.set()
        rebuild.join(timeout=60)
    assert answered_during_build
    assert "Boundary Protection" in str(answers[0].payload.blocks)
    assert fresh.data_version != "the data version before a re-ingest"


def test_the_same_question_asked_at_once_is_answered_once(
    corpus_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst of one question (20 at once after a start, a busy channel) is resolved and read
    once; the other askers wait for that answer instead of making it again."""
    import threading
    import time

    fresh = Answerer(corpus_engine, Settings())
    fresh.refresh_if_stale()
    entered, release = threading.Event(), threading.Event()
    calls: list[str] = []
    real = fresh._resolved

    def held(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[1])
        if len(calls) == 1:
            entered.set()
            release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(fresh, "_resolved", held)
    answers: list[Any] = []
    first = threading.Thread(target=lambda: answers.append(fresh.answer("T1048 SC-07")))
    second = threading.Thread(target=lambda: answers.append(fresh.answer("T1048 SC-07")))
    first.start()
    assert entered.wait(30)
    second.start()
    deadline = time.monotonic() + 30
    while not any(f.waiters for f in fresh._flights.values()) and time.monotonic() < deadline:
        time.sleep(0.01)
    waiting = any(f.waiters for f in fresh._flights.values())
    release.set()
    first.join(60)
    second.join(60)
    assert waiting and calls == ["T1048 SC-07"]
    assert len(answers) == 2 and answers[0] is answers[1]


def test_the_answer_hubs_refusal_is_the_one_error_rendering(answerer: Answerer) -> None:
    ans = answerer.answer_from_state('cm1:{"k":"technique","t":["T9999"],"f":["nist_800_53"]}')
    assert not ans.ok
    assert isinstance(ans.view, MessageView)
    assert ans.payload == error_payload(UserFacingError(ans.view.text))
