"""The delivery rules against the fake Slack: which calls the app's client repeats after a fault,
and how ``post_message`` finds a post whose answer was lost instead of posting it again."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from urllib.error import URLError

import pytest
from slack_sdk import WebClient

from bot.slack.delivery import DeliveryUncertain, Responder, may_have_landed, post_message, retry_handlers
from tests.fake_slack import FakeSlack


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


def app_client(fake: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=fake.base_url, retry_handlers=retry_handlers())


@pytest.mark.parametrize("fault", ["500", "drop", "accept-500", "accept-drop"])
def test_a_post_is_never_repeated_blindly_but_an_update_is(fake: FakeSlack, fault: str) -> None:
    client = app_client(fake)
    fake.fail_next("chat.postMessage", fault)  # type: ignore[arg-type]
    with pytest.raises(Exception) as failed:
        client.chat_postMessage(channel="C1", text="x")
    assert may_have_landed(failed.value)
    assert len(fake.calls_to("chat.postMessage")) == 1
    fake.fail_next("chat.update", fault)  # type: ignore[arg-type]
    client.chat_update(channel="C1", ts="1.0", text="y")  # the same edit twice is one edit
    assert [c.outcome for c in fake.calls_to("chat.update")] == [fault, "ok"]


def test_a_read_that_failed_did_not_post_anything(fake: FakeSlack) -> None:
    fake.fail_next("conversations.info", "500", times=3)
    with pytest.raises(Exception) as failed:
        app_client(fake).conversations_info(channel="C1")
    assert len(fake.calls_to("conversations.info")) == 3  # retried twice: reads are safe to repeat
    assert not may_have_landed(failed.value)


def test_a_refused_connection_is_known_not_to_have_landed() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    with pytest.raises(URLError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/chat.postMessage", data=b"", timeout=5)
    assert not may_have_landed(refused.value)


@pytest.mark.parametrize("fault", ["accept-500", "accept-drop"])
def test_post_message_finds_the_accepted_post_instead_of_repeating_it(fake: FakeSlack, fault: str) -> None:
    fake.fail_next("chat.postMessage", fault)  # type: ignore[arg-type]
    ts = post_message(app_client(fake), channel="C1", text="hello", key="k1", sleep=lambda _s: None)
    (message,) = fake.messages("C1")
    assert message["ts"] == ts and message["metadata"]["event_payload"] == {"key": "k1"}
    assert len(fake.calls_to("conversations.history")) == 1


@pytest.mark.parametrize("fault", ["500", "drop"])
def test_post_message_posts_again_when_the_channel_shows_it_missing(fake: FakeSlack, fault: str) -> None:
    fake.fail_next("chat.postMessage", fault)  # type: ignore[arg-type]
    ts = post_message(
        app_client(fake), channel="C1", thread_ts="1.5", text="hi", key="k2", sleep=lambda _s: None
    )
    (message,) = fake.messages("C1")
    assert message["ts"] == ts and message["thread_ts"] == "1.5"
    assert len(fake.calls_to("conversations.replies")) == 1  # a thread reply is looked for in the thread


def test_post_message_gives_up_without_repeating_when_the_channel_cannot_be_read(fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", "500")
    fake.set_response("conversations.history", {"ok": False, "error": "missing_scope"})
    with pytest.raises(DeliveryUncertain):
        post_message(app_client(fake), channel="C1", text="hi", sleep=lambda _s: None)
    assert len(fake.calls_to("chat.postMessage")) == 1


def test_a_refused_post_is_an_error_not_an_uncertainty(fake: FakeSlack) -> None:
    fake.set_response("chat.postMessage", {"ok": False, "error": "not_in_channel"})
    with pytest.raises(Exception) as refused:
        post_message(app_client(fake), channel="C1", text="hi")
    assert not may_have_landed(refused.value) and not isinstance(refused.value, DeliveryUncertain)


@pytest.mark.parametrize("fault", ["500", "drop", "accept-500", "accept-drop"])
def test_a_response_url_post_is_sent_once_whatever_the_fault(fake: FakeSlack, fault: str) -> None:
    fake.fail_next("response_url", fault)  # type: ignore[arg-type]
    with pytest.raises(DeliveryUncertain):
        Responder(fake.response_url("r"))(text="x", replace_original=True)
    assert len(fake.calls_to("response_url")) == 1


def test_a_rate_limited_response_url_post_is_sent_after_retry_after(fake: FakeSlack) -> None:
    fake.fail_next("response_url", "429", retry_after=1)
    Responder(fake.response_url("r"))(text="x")
    assert [c.outcome for c in fake.calls_to("response_url")] == ["429", "ok"]
