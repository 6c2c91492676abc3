"""Actor and software answers in Slack, end to end over HTTP from the real corpus: ``/attack``,
mentions, the modal, the procedure menu and the exports (issue 13 item 3)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot import actions
from bot.answer import Answerer
from bot.config import Settings
from tests.layer_format import layer_problems
from tests.slack_harness import (
    CHANNEL,
    USER,
    SlackUnderTest,
    app_state,
    block_actions,
    element,
    new_ts,
    running_app,
)
from tests.test_slack_corpus import shown_text, valid


@pytest.fixture(autouse=True)
def _no_slack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def real_answerer(corpus_engine: Engine) -> Answerer:
    answerer = Answerer(corpus_engine, Settings())
    answerer.refresh_if_stale()
    return answerer


@pytest.fixture
def slack(tmp_path: Path, real_answerer: Answerer) -> Iterator[SlackUnderTest]:
    with app_state(tmp_path / "state.db") as state, running_app(state, real_answerer) as s:
        s.fake.add_channel(CHANNEL, "soc")
        yield s


def test_attack_apt29_answers_with_its_coverage_and_techniques(slack: SlackUnderTest) -> None:
    answer = valid(slack.command("APT29").json())
    text = shown_text(answer["blocks"])
    assert "G0016 APT29" in text and "covers" in text and "Initial Access" in text
    assert answer["response_type"] == "ephemeral"


def test_procedure_menu_replaces_the_answer_with_the_procedure(slack: SlackUnderTest) -> None:
    answer = slack.command("APT29").json()
    menu = next(
        b["accessory"] for b in answer["blocks"] if b.get("accessory", {}).get("type") == "static_select"
    )
    assert menu["action_id"].split(":")[0] == actions.EXPAND
    slack.interact(block_actions(menu, ephemeral=True, response_url=slack.fake.response_url("m")))
    (sent,) = slack.fake.wait_for("response_url", timeout=10)
    body = valid(sent.body)
    first = menu["options"][0]["text"]["text"].split(" ")[0]
    assert first in shown_text(body["blocks"]) and "APT29" in shown_text(body["blocks"])
    assert "Back" in shown_text(body["blocks"])


def test_navigator_export_of_an_actor_uploads_a_valid_layer(slack: SlackUnderTest) -> None:
    answer = slack.command("Cozy Bear").json()
    message = {"type": "message", "ts": new_ts(), "blocks": answer["blocks"]}
    export = element(answer["blocks"], actions.EXPORT_NAVIGATOR)
    slack.interact(block_actions(export, message=message, response_url=slack.fake.response_url("e")))
    slack.fake.wait_for("files.completeUploadExternal", timeout=10)
    (upload,) = slack.fake.uploads.values()
    layer = json.loads(upload["content"])
    assert layer_problems(layer) == [] and "APT29" in layer["name"]


def test_mention_about_software_gets_a_threaded_software_answer(slack: SlackUnderTest) -> None:
    ts = new_ts()
    slack.event(
        {"type": "app_mention", "channel": CHANNEL, "user": USER, "text": "<@U0BOT0001> mimikatz", "ts": ts}
    )
    (reply,) = slack.fake.wait_for("chat.postMessage", timeout=10)
    assert reply.body["thread_ts"] == ts
    text = shown_text(valid(reply.body)["blocks"])
    assert "S0002 Mimikatz" in text and "T1003.001" in text


def test_modal_search_for_an_actor_shows_the_actor(slack: SlackUnderTest) -> None:
    values = {"cm_q": {"cm_q": {"type": "plain_text_input", "value": "what covers C0024"}}}
    view = {"id": "V1", "type": "modal", "callback_id": "cm_search_modal", "state": {"values": values}}
    submission = {"type": "view_submission", "team": {"id": "T0TEAM001"}, "user": {"id": USER}, "view": view}
    body = slack.interact(submission).json()
    assert body["response_action"] == "update"
    assert "SolarWinds Compromise" in shown_text(body["view"]["blocks"])
