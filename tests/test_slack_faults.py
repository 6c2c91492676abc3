"""Slack accepts a post and then fails the answer (a 500, or the connection dropped before the
reply): the served app must not post it again blindly, nor apologise for it.  Each case talks to
the app over HTTP with the fake Slack injecting the fault, then waits until every listener the
request started has finished (``drain``) before counting what landed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot import actions
from tests.fake_slack import Call
from tests.slack_harness import (
    CHANNEL,
    USER,
    SlackUnderTest,
    StubAnswerer,
    app_state,
    block_actions,
    element,
    new_ts,
    running_app,
)

ACCEPTED_THEN_FAILED = ("accept-500", "accept-drop")
EVERY_FAULT = (*ACCEPTED_THEN_FAILED, "500", "drop")


@pytest.fixture(autouse=True)
def _no_slack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Engine]:
    with app_state(tmp_path / "state.db") as engine:
        yield engine


@pytest.fixture
def slack(state: Engine) -> Iterator[SlackUnderTest]:
    with running_app(state, StubAnswerer(state)) as s:
        s.fake.add_channel(CHANNEL, "soc")
        s.fake.add_channel("C0INC001", "inc-2026-ransomware")
        yield s


def landed(calls: list[Call]) -> list[Call]:
    return [c for c in calls if c.accepted]


def apologies(slack: SlackUnderTest) -> list[Call]:
    return [
        c
        for c in slack.fake.calls
        if c.accepted
        and c.method in ("chat.postMessage", "response_url", "chat.postEphemeral")
        and str(c.body.get("text", "")).startswith("Sorry")
    ]


@pytest.mark.parametrize("fault", EVERY_FAULT)
def test_a_mention_is_answered_once_whatever_the_fault(slack: SlackUnderTest, fault: str) -> None:
    slack.fake.fail_next("chat.postMessage", fault)  # type: ignore[arg-type]
    ts = new_ts()
    event = {"type": "app_mention", "channel": CHANNEL, "user": USER, "text": "<@U0BOT0001> T1110", "ts": ts}
    assert slack.event(event).status == 200
    slack.drain()
    (answer,) = slack.fake.messages(CHANNEL)
    assert answer["thread_ts"] == ts and answer["text"] == "answer: T1110"
    assert apologies(slack) == []


@pytest.mark.parametrize("fault", ACCEPTED_THEN_FAILED)
def test_a_share_click_posts_one_public_copy(slack: SlackUnderTest, fault: str) -> None:
    answer = slack.command("T1048").json()
    slack.fake.fail_next("chat.postMessage", fault)  # type: ignore[arg-type]
    el = element(answer["blocks"], actions.SHARE)
    slack.interact(block_actions(el, ephemeral=True, response_url=slack.fake.response_url("share")))
    slack.drain()
    (shared,) = slack.fake.messages(CHANNEL)
    assert f"<@{USER}>" in shared["text"]
    assert apologies(slack) == []
    # the ephemeral original still goes: the share happened
    assert [c.body.get("delete_original") for c in landed(slack.fake.calls_to("response_url"))] == [True]


@pytest.mark.parametrize("fault", ACCEPTED_THEN_FAILED)
def test_three_messages_in_an_incident_thread_get_one_card(slack: SlackUnderTest, fault: str) -> None:
    slack.fake.fail_next("chat.postMessage", fault, times=20)  # type: ignore[arg-type]
    root = new_ts()
    for n, text in enumerate(("T1486 on the file servers", "T1486 again", "still T1486")):
        extra = {"thread_ts": root} if n else {}
        event = {"type": "message", "channel": "C0INC001", "channel_type": "channel", "user": USER,
                 "text": text, "ts": root if n == 0 else new_ts(), **extra}  # fmt: skip
        assert slack.event(event).status == 200
        slack.wait_idle()
    slack.drain()
    cards = slack.fake.messages("C0INC001")
    assert [(c["text"], c["thread_ts"]) for c in cards] == [("card: T1486", root)]
    assert apologies(slack) == []


@pytest.mark.parametrize("fault", ACCEPTED_THEN_FAILED)
def test_a_button_click_is_delivered_once_through_the_response_url(slack: SlackUnderTest, fault: str) -> None:
    answer = slack.command("T1048").json()
    el = element(answer["blocks"], actions.PAGE)
    slack.fake.fail_next("response_url", fault)  # type: ignore[arg-type]
    slack.interact(block_actions(el, ephemeral=True, response_url=slack.fake.response_url("page")))
    slack.drain()
    (delivered,) = landed(slack.fake.calls_to("response_url"))
    assert delivered.body["replace_original"] is True and delivered.body["text"] == "state: page2|T1048"
    assert apologies(slack) == []
