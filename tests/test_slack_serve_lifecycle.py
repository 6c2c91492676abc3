"""The HTTP server's life: Slack unreachable at boot is waited out (not fatal, one line per
attempt), a token Slack refuses is a configuration error, and SIGTERM lets a request in flight
finish before the server exits."""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.slack.oauth import SlackNotConfigured
from bot.slack.runtime import wait_for_slack
from tests.fake_slack import FakeSlack, Reply, command_body, post
from tests.serve_helpers import BOT_TOKEN, PROJECT_ROOT, SIGNING_SECRET, clean_env, free_port, request


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


def _settings(fake: FakeSlack) -> Settings:
    return Settings(
        slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET, slack_api_url=fake.base_url
    )


def test_slack_unreachable_at_boot_is_retried_with_backoff_one_line_per_attempt(
    fake: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next("auth.test", "drop", times=2)
    fake.fail_next("auth.test", "500", times=2)
    waits: list[float] = []
    with caplog.at_level(logging.INFO, logger="bot.slack.runtime"):
        wait_for_slack(_settings(fake), sleep=waits.append)
    assert len(fake.calls_to("auth.test")) == 5  # four failures, then the answer
    assert waits == sorted(waits) and waits[0] < waits[-1]  # backing off
    retries = [r for r in caplog.records if "does not answer auth.test" in r.getMessage()]
    assert len(retries) == 4
    assert all("\n" not in r.getMessage() and r.exc_info is None for r in retries)


def test_a_token_slack_refuses_is_a_configuration_error(fake: FakeSlack) -> None:
    fake.set_response("auth.test", {"ok": False, "error": "invalid_auth"})
    waits: list[float] = []
    with pytest.raises(SlackNotConfigured, match="invalid_auth"):
        wait_for_slack(_settings(fake), sleep=waits.append)
    assert waits == []


def _wait(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@contextlib.contextmanager
def held_server(fake: FakeSlack, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path, Path]]:
    from store.db import make_engine
    from store.migrate import upgrade

    db = tmp_path / "held.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    engine.dispose()
    port, release, log_path = free_port(), tmp_path / "release", tmp_path / "held.log"
    env = clean_env(
        DATABASE_URL=f"sqlite:///{db}",
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.base_url,
    )
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.held_app", str(port), str(release)],
            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield proc, port, release, log_path
    finally:
        release.touch()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_slack_failing_at_boot_delays_the_port_and_sigterm_drains_a_request_in_flight(
    fake: FakeSlack, tmp_path: Path
) -> None:
    fake.fail_next("auth.test", "500", times=2)
    with held_server(fake, tmp_path) as (proc, port, release, log_path):
        url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            assert proc.poll() is None, log_path.read_text()
            with contextlib.suppress(OSError):
                return request(url + "/healthz").status == 200
            return False

        _wait(healthy, "the server to answer /healthz")
        log = log_path.read_text()
        assert log.count("does not answer auth.test") == 2  # waited out, not fatal
        assert log.index("does not answer auth.test") < log.index("Listening at")

        replies: list[Reply] = []
        body = command_body("/held", "", response_url=fake.response_url("held"))
        sender = threading.Thread(
            target=lambda: replies.append(
                post(url + "/slack/events", body, secret=SIGNING_SECRET, timeout=60)
            )
        )
        sender.start()
        _wait(lambda: "held command started" in log_path.read_text(), "the request to reach its listener")
        proc.send_signal(signal.SIGTERM)
        _wait(lambda: "Handling signal: term" in log_path.read_text(), "gunicorn to take the signal")
        release.touch()
        sender.join(timeout=60)
        assert replies and replies[0].status == 200 and b"released" in replies[0].body
        assert proc.wait(timeout=30) == 0
