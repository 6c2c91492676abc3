"""``countermap serve --http``: the real gunicorn server (several workers, threads) in a subprocess
on 127.0.0.1, its Web API traffic going to the fake Slack, answering the real corpus."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from bot.slack import constants
from tests.fake_slack import FakeSlack, command_body, post
from tests.serve_helpers import (
    BOT_TOKEN,
    COUNTERMAP,
    SIGNING_SECRET,
    ServerProcess,
    clean_env,
    request,
    serve_http_process,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


@pytest.fixture(scope="module")
def server(
    corpus_url: str, fake: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server per backend for the module: two workers, on the real corpus.

    The corpus database is shared by the session; the server writes only Slack-side rows
    (look-ups, delivery keys) that no corpus test reads."""
    env = clean_env(
        DATABASE_URL=corpus_url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.base_url,
    )
    with serve_http_process(env, tmp_path_factory.mktemp("serve"), workers=2, threads=4) as proc:
        yield proc
        proc.process.terminate()  # SIGTERM: gunicorn stops its workers and exits cleanly
        assert proc.process.wait(timeout=30) == 0, proc.log()


def slash(server: ServerProcess, fake: FakeSlack, command: str, text: str) -> tuple[int, dict[str, Any]]:
    """Send a signed slash command; return the HTTP status and the answer the user ends up with:
    the ack's own body, or, when the ack was a "looking it up" placeholder (the answer took longer
    than the ack budget), what the app then posted to the ``response_url``."""
    name = f"r{time.time_ns()}"
    body = command_body(command, text, response_url=fake.response_url(name), trigger_id=f"{name}.trig")
    reply = post(server.url + constants.EVENTS_PATH, body, secret=SIGNING_SECRET)
    if reply.status != 200:
        return reply.status, {}
    ack = json.loads(reply.body)
    if "Looking up" not in json.dumps(ack):
        return reply.status, ack
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for call in fake.calls_to("response_url"):
            if call.path.endswith("/" + name):
                return reply.status, call.body
        time.sleep(0.05)
    raise AssertionError(f"placeholder ack but nothing posted to the response_url: {ack}")


def test_health_check_reports_the_database(server: ServerProcess) -> None:
    reply = request(server.url + constants.HEALTH_PATH)
    assert reply.status == 200
    assert json.loads(reply.body) == {"ok": True, "database": "ok"}


def test_it_runs_the_requested_number_of_workers(server: ServerProcess) -> None:
    assert len(server.worker_pids()) == 2


def test_technique_command_is_answered_in_the_ack_with_valid_blocks(
    server: ServerProcess, fake: FakeSlack
) -> None:
    status, answer = slash(server, fake, "/t1048", "SC-07")
    assert status == 200
    assert answer["response_type"] == "ephemeral"
    assert "T1048" in answer["text"] and "SC-07" in answer["text"]
    blocks = answer["blocks"]
    assert 0 < len(blocks) <= 50
    for block in blocks:
        assert Block.parse(block).to_dict() == block  # slack_sdk validates each block's limits
    assert "Boundary Protection" in json.dumps(blocks)


def test_technique_command_answers_like_the_main_command(server: ServerProcess, fake: FakeSlack) -> None:
    _, short = slash(server, fake, "/t1048", "SC-07")
    _, full = slash(server, fake, "/attack", "T1048 SC-07")
    assert short["text"] == full["text"]


def test_every_worker_answers(server: ServerProcess, fake: FakeSlack) -> None:
    """Over a series of separate connections both workers take requests and all are answered."""
    statuses = [slash(server, fake, "/t1048", "SC-07")[0] for _ in range(12)]
    assert statuses == [200] * 12


def test_forged_signature_is_refused(server: ServerProcess, fake: FakeSlack) -> None:
    body = command_body("/t1048", "SC-07", response_url=fake.response_url("forged"))
    reply = post(server.url + constants.EVENTS_PATH, body, secret="not-the-signing-secret")
    assert reply.status == 401
    assert b"SC-07" not in reply.body


def test_unknown_paths_wrong_methods_and_huge_bodies_are_refused(server: ServerProcess) -> None:
    assert request(server.url + "/admin").status == 404
    assert request(server.url + constants.EVENTS_PATH).status == 405
    # One workspace: there is no install flow to expose.
    assert request(server.url + constants.INSTALL_PATH).status == 404
    huge = b"x" * (2 << 20)
    assert request(server.url + constants.EVENTS_PATH, "POST", huge).status == 413


def test_serve_without_credentials_explains_how_to_set_up(tmp_path: Path) -> None:
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    for mode in ("--http", "--socket"):
        done = subprocess.run(
            [*COUNTERMAP, "serve", mode], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2
        assert "countermap manifest" in done.stderr
        assert "countermap ask" in done.stderr
        assert "SLACK_BOT_TOKEN" in done.stderr


def test_http_mode_without_signing_secret_says_so(tmp_path: Path) -> None:
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}", SLACK_BOT_TOKEN=BOT_TOKEN)
    done = subprocess.run(
        [*COUNTERMAP, "serve", "--http"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "SLACK_SIGNING_SECRET" in done.stderr


def test_manifest_command_prints_http_urls(tmp_path: Path) -> None:
    done = subprocess.run(
        [*COUNTERMAP, "manifest", "--http", "https://bot.example.org/"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "request_url: https://bot.example.org/slack/events" in done.stdout
    assert "https://bot.example.org/slack/oauth_redirect" in done.stdout
    assert "socket_mode_enabled: false" in done.stdout
    assert shutil.which(COUNTERMAP[0]) is not None
