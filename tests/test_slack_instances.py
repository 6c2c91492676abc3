"""Several instances of the app on one database (gunicorn workers, or hosts behind a load
balancer): a delivery Slack repeats, wherever it lands, produces one reply, and a technique
named twice in a thread gets one card.  Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from sqlalchemy import Engine

from tests.fake_slack import FakeSlack, Reply
from tests.slack_harness import CHANNEL, USER, SlackUnderTest, StubAnswerer, new_event_id, new_ts, running_app


@pytest.fixture(autouse=True)
def _no_slack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def two_instances(engine: Engine) -> Iterator[tuple[SlackUnderTest, SlackUnderTest]]:
    """Two apps, each with its own engine (as separate processes have) on one database."""
    from store.db import make_engine

    with FakeSlack() as fake, ExitStack() as stack:
        fake.add_channel("C0INC777", "inc-shared")
        engines = [make_engine(engine.url.render_as_string(hide_password=False)) for _ in range(2)]
        apps = [stack.enter_context(running_app(e, StubAnswerer(e), fake=fake)) for e in engines]
        yield apps[0], apps[1]
        for e in engines:
            e.dispose()


def at_once(*sends: object) -> list[Reply]:
    """Run the sends concurrently, released together."""
    barrier = threading.Barrier(len(sends))
    replies: list[Reply | None] = [None] * len(sends)

    def run(i: int, send: object) -> None:
        barrier.wait()
        replies[i] = send()  # type: ignore[operator]

    threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(sends)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=15)
    assert all(r is not None for r in replies)
    return [r for r in replies if r is not None]


def test_the_same_event_on_two_instances_is_answered_once(
    two_instances: tuple[SlackUnderTest, SlackUnderTest],
) -> None:
    a, b = two_instances
    event = {
        "type": "app_mention",
        "channel": CHANNEL,
        "user": USER,
        "text": "<@U0BOT0001> T1078",
        "ts": new_ts(),
    }
    event_id = new_event_id()
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    now = int(time.time())
    # Slack signs each delivery when it sends it; here they all arrive at once, on either instance.
    replies = at_once(
        lambda: a.event(event, event_id=event_id, timestamp=now - 3),
        lambda: b.event(event, event_id=event_id, timestamp=now - 1, headers=retry),
        lambda: a.event(event, event_id=event_id, timestamp=now, headers={**retry, "X-Slack-Retry-Num": "2"}),
    )
    assert [r.status for r in replies] == [200, 200, 200]
    a.drain()
    b.drain()
    assert len(a.fake.calls_to("chat.postMessage")) == 1


def test_one_card_per_technique_per_thread_across_instances(
    two_instances: tuple[SlackUnderTest, SlackUnderTest],
) -> None:
    a, b = two_instances
    root = new_ts()

    def message(text: str, ts: str) -> dict[str, object]:
        thread = {"thread_ts": root} if ts != root else {}
        return {"type": "message", "channel": "C0INC777", "channel_type": "channel", "user": USER, **thread,
                "text": text, "ts": ts}  # fmt: skip

    at_once(
        lambda: a.event(message("ransomware: T1486", root)),
        lambda: b.event(message("T1486 here too", new_ts())),
        lambda: a.event(message("and T1486 again", new_ts())),
    )
    a.drain()
    b.drain()
    cards = a.fake.calls_to("chat.postMessage")
    assert [(c.body["thread_ts"], c.body["text"]) for c in cards] == [(root, "card: T1486")]


def test_a_request_replayed_to_another_instance_is_refused(
    two_instances: tuple[SlackUnderTest, SlackUnderTest],
) -> None:
    from tests.fake_slack import command_body

    a, b = two_instances
    body = command_body("/attack", "T1078", response_url=a.fake.response_url())
    ct = "application/x-www-form-urlencoded"
    now = int(time.time())
    assert a.send(body, ct, timestamp=now).status == 200
    assert b.send(body, ct, timestamp=now).status == 401


def test_watch_off_on_one_instance_holds_on_the_next_message_on_the_other(
    two_instances: tuple[SlackUnderTest, SlackUnderTest],
) -> None:
    """Issue 15 item 3: each worker kept the setting for 30 s, so a card followed ``watch off``.
    Each instance keeps what it read only while the settings' version in the database stands."""
    a, b = two_instances

    def card_for(text: str) -> list[str]:
        before = len(a.fake.calls_to("chat.postMessage"))
        b.event({"type": "message", "channel": "C0INC777", "channel_type": "channel", "user": USER,
                 "text": text, "ts": new_ts()})  # fmt: skip
        b.drain()
        return [c.body["text"] for c in a.fake.calls_to("chat.postMessage")[before:]]

    assert card_for("seen T1486") == ["card: T1486"]  # b has read the channel's settings
    assert "*off*" in a.command("watch off", channel_id="C0INC777").json()["text"]
    assert card_for("now T1059") == []
    assert card_for("and T1078") == []
    assert "*on*" in a.command("watch on", channel_id="C0INC777").json()["text"]
    assert card_for("back to T1003") == ["card: T1003"]
