"""Nothing parses a request body before its signature and timestamp are checked: every unsigned or
malformed request to ``/slack/events`` is refused with 401 or 400 and one short log line, never a
500 and a traceback; and no request data reaches the log unbounded or with its newlines."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from tests.fake_slack import command_body, interactive_body, post, signed_headers
from tests.slack_harness import SECRET, SlackUnderTest, running_app, stub


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    from store.db import make_engine
    from store.migrate import upgrade

    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('gate') / 'state.db'}")
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def slack(state: Engine) -> Iterator[SlackUnderTest]:
    with running_app(state, stub(state)) as s:
        yield s


FORM = "application/x-www-form-urlencoded"
DEEP = "[" * 100_000 + "]" * 100_000

# (body, content type): every shape the attack run found to give a 500 before the signature check.
HOSTILE = [
    ("payload={", FORM),
    ("payload=[]", FORM),
    ("payload=null", FORM),
    ("payload", FORM),
    ("payload=" + DEEP, FORM),
    (DEEP, "application/json"),
    ('{"a":' * 50_000 + "1" + "}" * 50_000, "application/json"),
    ("this is not json", "application/json"),
    ("\xff\xfe", "application/json"),
]


@pytest.mark.parametrize(("body", "content_type"), HOSTILE, ids=range(len(HOSTILE)))
def test_an_unsigned_hostile_body_is_refused_without_being_parsed(
    slack: SlackUnderTest, body: str, content_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        reply = post(slack.events_url, body.encode("utf-8", "surrogateescape"), content_type=content_type)
    assert reply.status == 401
    assert "Traceback" not in caplog.text
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1 and len(refusals[0].getMessage()) < 300


@pytest.mark.parametrize("timestamp", ["abc", "0.5", "", "1e9", "-5", "1 2", "9" * 40])
def test_a_malformed_timestamp_is_a_400_even_with_a_signature(
    slack: SlackUnderTest, timestamp: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = "payload={"
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": "v0=" + "0" * 64}
    with caplog.at_level(logging.INFO):
        reply = post(slack.events_url, body, content_type=FORM, headers=headers)
    assert reply.status == 400
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize(("body", "content_type"), HOSTILE[:4] + HOSTILE[5:], ids=range(len(HOSTILE) - 1))
def test_a_signed_body_that_does_not_parse_is_a_400(
    slack: SlackUnderTest, body: str, content_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Only Slack can sign, but a body it signed that is not a Slack payload is still the client's
    mistake (400), not the server's (500)."""
    data = body.encode("utf-8", "surrogateescape")
    with caplog.at_level(logging.INFO):
        reply = post(slack.events_url, data, content_type=content_type, headers=signed_headers(SECRET, data))
    assert reply.status == 400, reply.body
    assert "Traceback" not in caplog.text


def test_a_stale_or_forged_signature_is_a_401(slack: SlackUnderTest) -> None:
    body = command_body("/attack", "T1048", response_url=slack.fake.response_url("stale"))
    stale = post(slack.events_url, body, secret=SECRET, timestamp=int(time.time()) - 600)
    forged = post(slack.events_url, body, secret="not-the-secret")
    unsigned = post(slack.events_url, body)
    assert (stale.status, forged.status, unsigned.status) == (401, 401, 401)
    assert slack.fake.calls_to("response_url") == []


def test_signed_requests_still_reach_the_listeners(slack: SlackUnderTest) -> None:
    reply = slack.command("T1048")
    assert reply.status == 200 and "T1048" in json.dumps(reply.json())
    click = {"type": "block_actions", "team": {"id": "T0TEAM001"}, "user": {"id": "U1"},
             "actions": [{"action_id": "link", "block_id": "b1", "type": "button"}]}  # fmt: skip
    assert slack.send(interactive_body(click), FORM).status == 200


def test_a_badly_signed_request_never_puts_its_body_in_the_log(
    slack: SlackUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    """Bolt logs the whole body of a badly signed request at INFO (1 MB in, 1 MB of log out), and a
    newline in it forges a log line of its own."""
    body = "text=" + "A" * 500_000 + "\n2026-01-01 00:00:00 ERROR forged: the database is gone\n"
    with caplog.at_level(logging.DEBUG):
        headers = {"X-Slack-Signature": "v0=forged", "X-Slack-Request-Timestamp": "1"}
        reply = post(slack.events_url, body, content_type=FORM, headers=headers)
    assert reply.status in (400, 401)
    assert "forged" not in caplog.text
    assert sum(len(r.getMessage()) for r in caplog.records) < 2_000
    assert all("\n" not in r.getMessage() for r in caplog.records)


def test_ssl_check_is_answered_without_a_signature(slack: SlackUnderTest) -> None:
    """Slack's SSL certificate check carries no signature; Bolt answers it 200 with an empty body."""
    reply = post(slack.events_url, "ssl_check=1&token=x", content_type=FORM)
    assert reply.status == 200 and reply.body == b""


def test_every_log_record_is_one_bounded_line_whoever_logs_it() -> None:
    """The root handler's filter: a library logging request data cannot split a line or flood."""
    from bot.slack.logs import MAX_MESSAGE_CHARS, OneLine

    body = "a" * 1_000_000 + "\nERROR forged\r\u2028"
    record = logging.LogRecord("slack_bolt.x", logging.INFO, __file__, 1, "body: %s", (body,), None)
    assert OneLine().filter(record)
    message = record.getMessage()
    assert "\n" not in message and "\r" not in message and "\u2028" not in message
    assert len(message) < MAX_MESSAGE_CHARS + 50 and message.endswith("chars)")


def test_clip_escapes_control_characters_and_says_what_it_cut() -> None:
    from bot.slack.logs import clip

    assert clip("a\nb\tc\x00d") == "a\\nb\\tc\\x00d"
    assert clip("x" * 250, 200) == "x" * 200 + "…(+50 chars)"
    assert clip("Ünïcode stays") == "Ünïcode stays"
