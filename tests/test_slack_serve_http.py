"""``countermap serve --http``: the real gunicorn server (several workers, threads) in a subprocess
on 127.0.0.1, its Web API traffic going to the fake Slack, answering the real corpus."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from slack_sdk.models.blocks import Block

from bot.cli import main
from bot.slack import constants
from tests.fake_slack import FakeSlack, command_body, post
from tests.serve_helpers import (
    BOT_TOKEN,
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


def test_liveness_and_readiness(server: ServerProcess) -> None:
    assert json.loads(request(server.url + constants.HEALTH_PATH).body) == {"ok": True}
    reply = request(server.url + constants.READY_PATH)
    assert reply.status == 200
    assert json.loads(reply.body) == {"ready": True, "database": "ok", "data": "ok", "index": "ok"}
    head = request(server.url + constants.READY_PATH, method="HEAD")
    assert head.status == 200 and head.body == b"" and int(head.headers["content-length"]) > 0


def test_the_port_opens_only_once_the_index_is_built(server: ServerProcess) -> None:
    """gunicorn bound the port before its workers had built anything, so the first requests after a
    start waited seconds in the backlog; the app is now built before the port is bound."""
    log = server.log()
    assert log.count("resolver index ready") == 1  # built once, in the master, for every worker
    assert log.index("resolver index ready") < log.index("Listening at")


def test_the_port_accepts_only_once_every_worker_is_ready(server: ServerProcess) -> None:
    """The master binds without listening; the worker that completes the set opens the port, so the
    first requests never wait in the backlog for a worker still booting (bot.slack.listen_late)."""
    assert len(server.worker_pids()) == 2  # at the first answer, not a moment later
    log = server.log()
    assert log.count("Booting worker") == 2
    assert log.index("Booting worker") < log.index("2 worker(s) ready: accepting connections")
    assert "Traceback" not in log and "Worker exiting" not in log


def test_every_worker_reports_its_heartbeat(
    server: ServerProcess, corpus_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each worker beats at start (``countermap health`` reads it from the database)."""
    from store.db import make_engine
    from store.state.heartbeats import heartbeats

    engine = make_engine(corpus_url)
    pids = {f":{pid}" for pid in server.worker_pids()}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        web = {b.instance[b.instance.rindex(":") :] for b in heartbeats(engine) if b.process == "web"}
        if pids <= web:
            break
        time.sleep(0.1)
    engine.dispose()
    assert pids <= web
    assert main(["--db", corpus_url, "health", "--json", "--expect", "web"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["processes"]["web"]["status"] == "ok" and report["data_version"]


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


def test_the_server_log_never_holds_the_bot_token(server: ServerProcess, fake: FakeSlack) -> None:
    slash(server, fake, "/t1048", "SC-07")
    log = server.log()
    assert "Booting worker" in log  # the log is the server's
    assert BOT_TOKEN not in log and SIGNING_SECRET not in log


def test_forged_signature_is_refused(server: ServerProcess, fake: FakeSlack) -> None:
    body = command_body("/t1048", "SC-07", response_url=fake.response_url("forged"))
    reply = post(server.url + constants.EVENTS_PATH, body, secret="not-the-signing-secret")
    assert reply.status == 401
    assert b"SC-07" not in reply.body


def test_unsigned_garbage_is_refused_before_it_is_parsed(server: ServerProcess) -> None:
    form, json_type = "application/x-www-form-urlencoded", "application/json"
    for body, content_type in (("payload={", form), ("[" * 50_000, json_type)):
        assert post(server.url + constants.EVENTS_PATH, body, content_type=content_type).status == 401
    deadline = time.monotonic() + 10  # the workers write their log lines on a thread of their own
    while "refused POST /slack/events" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "Traceback" not in server.log() and "refused POST /slack/events" in server.log()


def test_unknown_paths_wrong_methods_and_huge_bodies_are_refused(server: ServerProcess) -> None:
    assert request(server.url + "/admin").status == 404
    assert request(server.url + constants.EVENTS_PATH).status == 405
    # One workspace: there is no install flow to expose.
    assert request(server.url + constants.INSTALL_PATH).status == 404
    assert _status_of_post_declaring(server.url + constants.EVENTS_PATH, 2 << 20) == 413


def test_slow_clients_do_not_hold_the_threads_real_commands_need(
    server: ServerProcess, fake: FakeSlack
) -> None:
    """40 connections declaring a 100 KB body and sending it a byte at a time held every thread of
    both workers (2 x 4 here): real commands timed out.  They must still be acked within 3 s, and
    the slow senders are cut off."""
    import threading

    parts = urlsplit(server.url)
    head = (
        f"POST {constants.EVENTS_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 102400\r\n\r\n"
    ).encode()
    slow = [socket.create_connection((parts.hostname, parts.port), timeout=10) for _ in range(40)]
    stop = threading.Event()

    def drip() -> None:  # one byte a second on every slow connection until the test ends
        while not stop.is_set():
            for sock in slow:
                with contextlib.suppress(OSError):
                    sock.send(b"a")
            stop.wait(1.0)

    try:
        for sock in slow:
            sock.sendall(head)
        dripper = threading.Thread(target=drip, daemon=True)
        dripper.start()
        timings = []
        for _ in range(4):
            started = time.monotonic()
            status, answer = slash(server, fake, "/t1048", "SC-07")
            timings.append(time.monotonic() - started)
            assert status == 200 and "SC-07" in answer["text"]
        assert max(timings) < 3.0, timings

        def cut_off() -> bool:
            return "no whole request within" in server.log()

        deadline = time.monotonic() + 30
        while not cut_off() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert cut_off()
    finally:
        stop.set()
        for sock in slow:
            sock.close()


def _status_of_post_declaring(url: str, length: int) -> int:
    """A POST that declares a ``length``-byte body and sends only its first kilobyte: the server
    must refuse it on the header, without reading the body (a client that goes on sending the
    whole body may find the connection closed under it, a broken pipe rather than an answer)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=10) as sock:
        head = f"POST {parts.path} HTTP/1.1\r\nHost: {parts.hostname}\r\nContent-Length: {length}\r\n\r\n"
        sock.sendall(head.encode() + b"x" * 1024)
        reply = sock.makefile("rb").readline()
    return int(reply.split()[1])


@pytest.fixture
def no_slack_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The CLI run in-process with no Slack or countermap settings in the environment."""
    for name in list(os.environ):
        if name.startswith(("SLACK_", "COUNTERMAP_")) or name in ("PORT", "WEB_CONCURRENCY"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")


def test_serve_without_credentials_explains_how_to_set_up(
    no_slack_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    for mode in ("--http", "--socket"):
        assert main(["serve", mode]) == 2
        err = capsys.readouterr().err
        assert "countermap manifest" in err
        assert "countermap ask" in err
        assert "SLACK_BOT_TOKEN" in err


def test_each_mode_names_the_credential_it_lacks(
    no_slack_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    assert main(["serve", "--http"]) == 2
    assert "SLACK_SIGNING_SECRET" in capsys.readouterr().err
    assert main(["serve", "--socket"]) == 2
    assert "SLACK_APP_TOKEN" in capsys.readouterr().err


def test_manifest_command_prints_http_urls(no_slack_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["manifest", "--http", "https://bot.example.org/"]) == 0
    out = capsys.readouterr().out
    assert "request_url: https://bot.example.org/slack/events" in out
    assert "https://bot.example.org/slack/oauth_redirect" in out
    assert "socket_mode_enabled: false" in out


def test_manifest_command_refuses_a_plain_http_address(
    no_slack_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["manifest", "--http", "http://bot.example.org"]) == 2
    assert "https://" in capsys.readouterr().err


def test_an_unreachable_database_is_reported_without_its_password(
    no_slack_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("DATABASE_URL", "postgresql://cm:hunter2secret@127.0.0.1:1/countermap")
    assert main(["serve", "--http"]) == 3  # the database is down: exit 3, as every command
    err = capsys.readouterr().err
    assert "countermap: database postgresql+psycopg://cm:***@127.0.0.1:1/countermap is unavailable" in err
    assert "hunter2secret" not in err and len(err.strip().splitlines()) == 1
