"""App Home manages the workspace inventory: admins see Add / Remove, the modal checks every ID
against the real corpus (did-you-mean, nothing stored on a bad ID), and the Home tab is
republished with the result; others see the inventory without the buttons."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from bot.answer import Answerer
from bot.config import Settings
from bot.slack.messages import home_inventory
from store.state import inventory as store_inventory
from tests.fake_slack import event_body
from tests.slack_harness import SlackUnderTest, new_event_id, running_app

BOSS = "U0BOSS"


@pytest.fixture(autouse=True)
def _no_slack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def slack(corpus_engine: Engine) -> Iterator[SlackUnderTest]:
    answerer = Answerer(corpus_engine, Settings())
    with running_app(corpus_engine, answerer, admin_mode="configured", admins=(BOSS,)) as s:
        yield s


@pytest.fixture
def team() -> str:
    return f"T{uuid.uuid4().hex[:9].upper()}"


def home(slack: SlackUnderTest, team: str, user: str) -> dict:  # type: ignore[type-arg]
    slack.fake.reset()
    event = {"type": "app_home_opened", "user": user, "channel": "D0DM9", "tab": "home"}
    slack.send(event_body(event, event_id=new_event_id(), team_id=team), "application/json")
    (call,) = slack.fake.wait_for("views.publish", timeout=10)
    return call.body["view"]


def submit(slack: SlackUnderTest, team: str, action: str, ids: str, status: str = "deployed") -> dict:  # type: ignore[type-arg]
    values = {
        home_inventory.IDS_BLOCK: {home_inventory.IDS_INPUT: {"type": "plain_text_input", "value": ids}},
        home_inventory.STATUS_BLOCK: {
            home_inventory.STATUS_INPUT: {"type": "radio_buttons", "selected_option": {"value": status}}
        },
    }
    view = {"id": "V9", "type": "modal", "callback_id": home_inventory.MODAL, "private_metadata": action,
            "state": {"values": values}}  # fmt: skip
    reply = slack.interact(
        {"type": "view_submission", "team": {"id": team}, "user": {"id": BOSS}, "view": view}
    )
    assert reply.status == 200
    return reply.json() or {}


def test_admins_see_add_and_remove_and_others_only_the_list(slack: SlackUnderTest, team: str) -> None:
    store_inventory.add_controls(
        slack.engine, team, "", [store_inventory.Control("nist_800_53", "SC-07")], BOSS
    )
    boss, other = json.dumps(home(slack, team, BOSS)), json.dumps(home(slack, team, "U0OTHER"))
    assert "Your controls" in boss and home_inventory.ADD in boss and "SC-07" in boss
    assert "Your controls" in other and home_inventory.ADD not in other and "SC-07" in other


def test_the_add_button_opens_the_modal(slack: SlackUnderTest, team: str) -> None:
    click = {"type": "block_actions", "team": {"id": team}, "user": {"id": BOSS}, "trigger_id": "13345.1",
             "actions": [{"action_id": home_inventory.ADD, "value": "add", "type": "button"}]}  # fmt: skip
    slack.interact(click)
    (opened,) = slack.fake.wait_for("views.open")
    assert opened.body["trigger_id"] == "13345.1"
    assert opened.body["view"]["callback_id"] == home_inventory.MODAL
    assert opened.body["view"]["private_metadata"] == "add"


def test_an_unknown_id_is_refused_in_the_modal_with_a_did_you_mean(slack: SlackUnderTest, team: str) -> None:
    reply = submit(slack, team, "add", "SC-07 amazon_guarduty")
    assert reply["response_action"] == "errors"
    message = reply["errors"][home_inventory.IDS_BLOCK]
    assert "Nothing was changed" in message and "amazon_guardduty" in message
    assert store_inventory.inventory(slack.engine, team).controls == ()


def test_adding_planned_controls_stores_them_and_republishes_home(slack: SlackUnderTest, team: str) -> None:
    slack.fake.reset()
    assert submit(slack, team, "add", "SC-07, guardduty", status="planned") == {}
    held = {(c.capability_id, c.status) for c in store_inventory.inventory(slack.engine, team).controls}
    assert held == {("SC-07", "planned"), ("amazon_guardduty", "planned")}
    (published,) = slack.fake.wait_for("views.publish", timeout=10)
    assert "amazon_guardduty" in json.dumps(published.body["view"])
    assert submit(slack, team, "remove", "SC-07") == {}
    assert {c.capability_id for c in store_inventory.inventory(slack.engine, team).controls} == {
        "amazon_guardduty"
    }
