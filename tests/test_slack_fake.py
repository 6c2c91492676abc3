"""The fake Slack Web API behaves like Slack where the app's tests rely on it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from tests.fake_slack import FakeSlack, Team, signed_headers


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


def client(fake: FakeSlack, token: str = "xoxb-test", retries: bool = False) -> WebClient:
    handlers = []
    if retries:
        handlers = [
            RateLimitErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2),
            ConnectionErrorRetryHandler(max_retry_count=2),
        ]
    return WebClient(token=token, base_url=fake.base_url, retry_handlers=handlers)


def test_records_method_body_and_bearer_token(fake: FakeSlack) -> None:
    client(fake, "xoxb-team-a").chat_postMessage(channel="C1", text="hello", blocks=[{"type": "divider"}])
    (call,) = fake.calls_to("chat.postMessage")
    assert call.token == "xoxb-team-a"
    assert call.body["text"] == "hello"
    assert call.body["blocks"] == [{"type": "divider"}]


def test_auth_test_answers_per_token(fake: FakeSlack) -> None:
    fake.add_team("xoxb-other", Team(team_id="T0OTHER", bot_user_id="U0OTHERBOT"))
    assert client(fake).auth_test()["team_id"] == "T0TEAM001"
    assert client(fake, "xoxb-other").auth_test()["user_id"] == "U0OTHERBOT"


def test_history_returns_posted_messages_newest_first_with_metadata_on_request(fake: FakeSlack) -> None:
    web = client(fake)
    first = web.chat_postMessage(
        channel="C1", text="one", metadata={"event_type": "digest", "event_payload": {"n": 1}}
    )
    web.chat_postMessage(channel="C1", text="reply", thread_ts=first["ts"])
    second = web.chat_postMessage(channel="C1", text="two")
    history = web.conversations_history(channel="C1", include_all_metadata=True)["messages"]
    assert [m["text"] for m in history] == ["two", "one"]
    assert history[1]["metadata"]["event_payload"] == {"n": 1}
    assert float(second["ts"]) > float(first["ts"])
    newer = web.conversations_history(channel="C1", oldest=first["ts"])["messages"]
    assert [m["text"] for m in newer] == ["two"] and "metadata" not in newer[0]
    assert [m["text"] for m in fake.messages("C1")] == ["one", "reply", "two"]


def test_rate_limit_is_retried_after_retry_after(fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", "429", retry_after=1)
    started = time.monotonic()
    client(fake, retries=True).chat_postMessage(channel="C1", text="x")
    assert time.monotonic() - started >= 0.9
    assert [c.outcome for c in fake.calls_to("chat.postMessage")] == ["429", "ok"]


def test_server_error_and_dropped_connection_are_injected(fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", "500")
    with pytest.raises(SlackApiError):
        client(fake).chat_postMessage(channel="C1", text="x")
    fake.fail_next("chat.update", "drop", times=2)
    client(fake, retries=True).chat_update(channel="C1", ts="1.0", text="y")
    assert [c.outcome for c in fake.calls_to("chat.update")] == ["drop", "drop", "ok"]


def test_accept_then_fail_stores_the_message_and_then_fails_the_answer(fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", "accept-500")
    with pytest.raises(SlackApiError) as refused:
        client(fake).chat_postMessage(channel="C1", text="one")
    assert refused.value.response.status_code == 500
    fake.fail_next("chat.postMessage", "accept-drop")
    with pytest.raises(ConnectionError):  # http.client.RemoteDisconnected
        client(fake).chat_postMessage(channel="C1", text="two")
    assert [m["text"] for m in fake.messages("C1")] == ["one", "two"]
    calls = fake.calls_to("chat.postMessage")
    assert [(c.outcome, c.accepted) for c in calls] == [("accept-500", True), ("accept-drop", True)]


def test_accept_then_fail_on_a_response_url(fake: FakeSlack) -> None:
    fake.fail_next("response_url", "accept-500")
    fake.fail_next("response_url", "500")
    assert WebhookClient(fake.response_url("r"), retry_handlers=[]).send(text="a").status_code == 500
    assert WebhookClient(fake.response_url("r"), retry_handlers=[]).send(text="b").status_code == 500
    assert [c.accepted for c in fake.calls_to("response_url")] == [True, False]
    (call,) = fake.wait_for("response_url")
    assert call.body["text"] == "a"


def test_file_upload_v2_flow_stores_content(fake: FakeSlack) -> None:
    client(fake).files_upload_v2(
        channel="C1", thread_ts="1.0", filename="x.csv", content="a,b\n1,2\n", title="X"
    )
    (upload,) = fake.uploads.values()
    assert upload["content"] == b"a,b\n1,2\n"
    assert (upload["channel"], upload["thread_ts"], upload["filename"]) == ("C1", "1.0", "x.csv")


def test_response_url_posts_are_recorded(fake: FakeSlack) -> None:
    WebhookClient(fake.response_url("cmd1")).send(text="hi", response_type="ephemeral")
    (call,) = fake.wait_for("response_url")
    assert call.path.endswith("/cmd1") and call.body["text"] == "hi"


def test_set_response_overrides_the_default(fake: FakeSlack) -> None:
    fake.set_response("users.info", {"ok": False, "error": "user_not_found"})
    with pytest.raises(SlackApiError):
        client(fake).users_info(user="U1")


def test_wait_for_times_out_with_what_was_seen(fake: FakeSlack) -> None:
    with pytest.raises(AssertionError, match=r"views\.publish"):
        fake.wait_for("views.publish", timeout=0.1)


def test_signed_headers_verify_like_slack() -> None:
    body = "command=%2Fattack&text=T1048"
    headers = signed_headers("s3cret", body)
    verifier = SignatureVerifier("s3cret")
    assert verifier.is_valid(body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
    assert not SignatureVerifier("other").is_valid(
        body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )
