"""Metrics and the access log: every Slack request counted by surface and status with its ack
time, every question by intent (or as unanswered), on the real corpus; under gunicorn the scrape
sums every worker, whichever worker answers it."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from bot.answer import Answerer
from bot.config import Settings
from bot.ops.metrics import exposition
from bot.slack.observe import surface_of
from tests.fake_slack import FakeSlack
from tests.serve_helpers import BOT_TOKEN, SIGNING_SECRET, clean_env, request, serve_http_process
from tests.slack_harness import CHANNEL, USER, SlackUnderTest, new_ts, running_app


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(snapshot: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return snapshot.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return samples(exposition()[0].decode())


@pytest.fixture(scope="module")
def answerer(corpus_engine: Engine) -> Answerer:
    a = Answerer(corpus_engine, Settings())
    a.refresh_if_stale()
    return a


@pytest.fixture
def slack(corpus_engine: Engine, answerer: Answerer) -> Iterator[SlackUnderTest]:
    with running_app(corpus_engine, answerer) as s:
        yield s


def test_a_slash_command_is_counted_timed_and_logged_with_its_intent(
    slack: SlackUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    before = scrape()
    with caplog.at_level(logging.INFO, logger="countermap.access"):
        assert slack.command("T1048 SC-07").status == 200
        assert slack.command("qqqzzx wibble").status == 200
    after = scrape()
    assert (
        value(after, "countermap_requests_total", surface="command", status="200")
        - value(before, "countermap_requests_total", surface="command", status="200")
        == 2
    )
    assert (
        value(after, "countermap_ack_seconds_count", surface="command")
        - value(before, "countermap_ack_seconds_count", surface="command")
        == 2
    )
    assert (
        value(after, "countermap_answers_total", intent="pair", surface="command")
        - value(before, "countermap_answers_total", intent="pair", surface="command")
        == 1
    )
    assert (
        value(after, "countermap_unanswered_questions_total", surface="command")
        - value(before, "countermap_unanswered_questions_total", surface="command")
        == 1
    )
    lines = [r for r in caplog.records if r.name == "countermap.access"]
    assert [(r.surface, r.status, r.intent) for r in lines] == [  # type: ignore[attr-defined]
        ("command", 200, "pair"),
        ("command", 200, "unknown"),
    ]
    ids = {r.request_id for r in lines}  # type: ignore[attr-defined]
    assert len(ids) == 2 and all(r.latency_ms > 0 for r in lines)  # type: ignore[attr-defined]


def test_a_mention_answered_after_the_ack_logs_the_answer_under_the_same_request_id(
    slack: SlackUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    before = scrape()
    event = {
        "type": "app_mention",
        "user": USER,
        "channel": CHANNEL,
        "ts": new_ts(),
        "text": "<@U0BOT> T1566.001",
    }
    with caplog.at_level(logging.INFO, logger="countermap.access"):
        for pool in slack.executors:
            pool.hold()  # the answer runs once the ack is out, as when answering takes a while
        try:
            assert slack.event(event).status == 200
        finally:
            for pool in slack.executors:
                pool.release()
        slack.fake.wait_for("chat.postMessage")
        slack.app._countermap_deps.lookups.flush()  # type: ignore[attr-defined]
    lines = [r for r in caplog.records if r.name == "countermap.access"]
    ack, answered = lines[0], next(r for r in lines if r.getMessage().startswith("answered"))
    assert ack.surface == "mention" and ack.status == 200  # type: ignore[attr-defined]
    assert answered.request_id == ack.request_id  # type: ignore[attr-defined]
    assert answered.intent == "technique" and answered.latency_ms >= ack.latency_ms  # type: ignore[attr-defined]
    after = scrape()
    assert (
        value(after, "countermap_answers_total", intent="technique", surface="mention")
        - value(before, "countermap_answers_total", intent="technique", surface="mention")
        == 1
    )


@pytest.mark.parametrize(
    ("body", "surface"),
    [
        ({"command": "/attack"}, "command"),
        ({"type": "event_callback", "event": {"type": "message", "channel_type": "im"}}, "dm"),
        ({"type": "event_callback", "event": {"type": "message", "channel_type": "channel"}}, "message"),
        ({"type": "event_callback", "event": {"type": "link_shared"}}, "unfurl"),
        ({"type": "event_callback", "event": {"type": "reaction_added"}}, "event"),
        ({"type": "block_actions"}, "action"),
        ({"type": "view_submission"}, "view"),
        ({"type": "message_action"}, "shortcut"),
        ({"type": "something new"}, "other"),
    ],
)
def test_surfaces_are_a_small_fixed_set(body: dict[str, Any], surface: str) -> None:
    assert surface_of(body) == surface


@pytest.mark.slow
def test_under_gunicorn_a_scrape_sums_every_worker_and_logs_are_json(
    corpus_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from tests.fake_slack import command_body, post

    with FakeSlack() as fake:
        env = clean_env(
            DATABASE_URL=corpus_url,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=fake.base_url,
            COUNTERMAP_LOG_FORMAT="json",
        )
        with serve_http_process(env, tmp_path_factory.mktemp("metrics"), workers=2, threads=2) as server:
            sent = 12
            for i in range(sent):
                text = "T1048 SC-07" if i % 3 else "qqqzzx wibble"
                body = command_body("/attack", text, response_url=fake.response_url(f"m{i}"))
                assert post(server.url + "/slack/events", body, secret=SIGNING_SECRET).status == 200
            # Each scrape lands on either worker: every one must show the whole server.
            for _ in range(6):
                reply = request(server.url + "/metrics")
                assert reply.status == 200 and reply.headers["content-type"].startswith("text/plain")
                snap = samples(reply.text)
                assert value(snap, "countermap_requests_total", surface="command", status="200") == sent
                assert value(snap, "countermap_answers_total", intent="pair", surface="command") == 8
                assert value(snap, "countermap_unanswered_questions_total", surface="command") == 4
                assert value(snap, "countermap_ack_seconds_count", surface="command") == sent
                assert value(snap, "countermap_database_up") == 1
                assert 0 <= value(snap, "countermap_data_age_seconds") < 86400
            assert request(server.url + "/metrics", method="HEAD").body == b""
    log = server.log()  # once the workers have stopped: every line they queued is written
    access = [json.loads(line) for line in log.splitlines() if '"countermap.access"' in line]
    assert len(access) == sent
    assert {a["surface"] for a in access} == {"command"} and len({a["request_id"] for a in access}) == sent
    assert sorted(a["intent"] for a in access) == ["pair"] * 8 + ["unknown"] * 4
    assert all(a["status"] == 200 and a["latency_ms"] > 0 for a in access)
    assert not [line for line in log.splitlines() if line.strip() and not line.startswith("{")], log[:2000]
