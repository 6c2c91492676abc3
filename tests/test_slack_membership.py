"""Channels the bot is not in (issue 15 item 12): a digest subscription or incident cards are
promised only where the bot can post (joining a public channel when the install allows, else
"invite me first"), and a digest that could not be posted shows in ``digest list`` and App
Home, not only in the log.  The served app against the fake Slack and its faults."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from bot.cli.wiring import digest_posters
from bot.digest.clock import FixedClock
from bot.digest.runner import DigestRunner
from store.app_state import ChannelSettings, DigestSubscription
from store.db import session_scope
from tests.slack_harness import SlackUnderTest, StubAnswerer, app_state, running_app

PUBLIC, PRIVATE = "C0PUBLIC1", "G0PRIVAT1"


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
        s.fake.add_channel(PUBLIC, "inc-public", is_member=False)
        s.fake.add_channel(PRIVATE, "inc-private", is_private=True, is_member=False)
        yield s


def watch_setting(engine: Engine, channel: str) -> bool | None:
    with session_scope(engine) as s:
        return s.scalar(select(ChannelSettings.watch).where(ChannelSettings.channel_id == channel))


def subscribed(engine: Engine, channel: str) -> bool:
    with session_scope(engine) as s:
        return (
            s.scalar(select(DigestSubscription.id).where(DigestSubscription.channel_id == channel))
            is not None
        )


def test_watch_on_in_a_public_channel_joins_it_then_switches_cards_on(slack: SlackUnderTest) -> None:
    reply = slack.command("watch on", channel_id=PUBLIC).json()
    (joined,) = slack.fake.calls_to("conversations.join")
    assert joined.body["channel"] == PUBLIC
    assert "*on*" in reply["text"] and "I joined this channel" in reply["text"]
    assert watch_setting(slack.engine, PUBLIC) is True


def test_watch_on_without_the_join_scope_says_invite_me_first_and_changes_nothing(
    slack: SlackUnderTest,
) -> None:
    slack.fake.set_response("conversations.join", {"ok": False, "error": "missing_scope"})
    reply = slack.command("watch on", channel_id=PUBLIC).json()
    assert "Invite me first" in reply["text"] and "/attack watch on" in reply["text"]
    assert watch_setting(slack.engine, PUBLIC) is None


def test_watch_on_in_a_private_channel_the_bot_is_not_in_asks_to_be_invited(slack: SlackUnderTest) -> None:
    reply = slack.command("watch on", channel_id=PRIVATE).json()
    assert "private channel" in reply["text"] and "Invite me first" in reply["text"]
    assert slack.fake.calls_to("conversations.join") == []
    assert watch_setting(slack.engine, PRIVATE) is None


def test_a_private_channel_slack_hides_from_the_bot_is_refused_too(slack: SlackUnderTest) -> None:
    """Slack answers ``channel_not_found`` for a private channel the bot is not in."""
    slack.fake.set_response("conversations.info", {"ok": False, "error": "channel_not_found"})
    reply = slack.command("watch on", channel_id="G0HIDDEN1").json()
    assert "Invite me first" in reply["text"]
    assert watch_setting(slack.engine, "G0HIDDEN1") is None


def test_watch_off_needs_no_membership(slack: SlackUnderTest) -> None:
    slack.command("watch off", channel_id=PRIVATE)
    assert watch_setting(slack.engine, PRIVATE) is False
    assert slack.fake.calls_to("conversations.join") == []


def test_watch_on_when_slack_cannot_say_still_switches_it_on(slack: SlackUnderTest) -> None:
    slack.fake.set_response("conversations.info", {"ok": False, "error": "ratelimited"})
    slack.command("watch on", channel_id=PUBLIC)
    assert watch_setting(slack.engine, PUBLIC) is True


def test_digest_subscribe_in_a_channel_the_bot_is_not_in_is_refused(slack: SlackUnderTest) -> None:
    reply = slack.command("digest subscribe 08:30", channel_id=PRIVATE).json()
    assert "Invite me first" in reply["text"] and "/attack digest subscribe 08:30" in reply["text"]
    assert not subscribed(slack.engine, PRIVATE)


def test_digest_subscribe_in_a_public_channel_joins_it(slack: SlackUnderTest) -> None:
    reply = slack.command("digest subscribe 08:30", channel_id=PUBLIC).json()
    assert "08:30" in reply["text"] and "I joined this channel" in reply["text"]
    assert subscribed(slack.engine, PUBLIC)
    assert [c.body["channel"] for c in slack.fake.calls_to("conversations.join")] == [PUBLIC]


def test_a_digest_that_could_not_be_posted_shows_in_digest_list_and_app_home(slack: SlackUnderTest) -> None:
    """The bot was removed after subscribing: the day's post fails with ``not_in_channel``."""
    assert "08:30" in slack.command("digest subscribe 08:30", channel_id=PUBLIC).json()["text"]
    slack.fake.set_response("chat.postMessage", {"ok": False, "error": "not_in_channel"})
    tomorrow = dt.datetime.now(dt.UTC).replace(hour=8, minute=31, second=0, microsecond=0)
    tomorrow += dt.timedelta(days=1)
    clock = FixedClock(tomorrow)
    posters = digest_posters(slack.engine, slack.settings, sleep=lambda _s: None)
    runner = DigestRunner(slack.engine, slack.settings, clock=clock, instance="t", poster_factory=posters)
    assert runner.run_once().failed == 1

    listed = slack.command("digest list", channel_id=PUBLIC).json()["text"]
    day = f"{tomorrow:%Y-%m-%d}"
    assert f"the digest of {day} failed: `not_in_channel`, invite me (`/invite @countermap`)" in listed

    slack.event({"type": "app_home_opened", "user": "U0USER001", "channel": "D0DM0001", "tab": "home"})
    (published,) = slack.fake.wait_for("views.publish", timeout=10)
    assert f"the digest of {day} failed: `not_in_channel`" in json.dumps(published.body["view"])
