"""Socket Mode end to end: the real app (``serve_socket``, the same path as ``countermap serve
--socket``) against a local websocket server that speaks Slack's envelope protocol, with the
fake Web API answering ``apps.connections.open`` with that server's address.

Protocol (as slack_sdk's and bolt-python's own tests use it): the server greets each connection
with ``{"type": "hello"}``, then sends envelopes ``{envelope_id, type, payload,
accepts_response_payload}``; the app acknowledges each with ``{"envelope_id", "payload"?}``.
``{"type": "disconnect", "reason": "refresh_requested"}`` makes the client open a new connection.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.server import Server, ServerConnection, serve

from bot.config import Settings
from bot.slack.socket_mode import serve_socket
from tests.fake_slack import FakeSlack
from tests.serve_helpers import APP_TOKEN, BOT_TOKEN, COUNTERMAP, clean_env

pytestmark = pytest.mark.slow


class SocketModeServer:
    """Records connections and the app's acknowledgements; sends envelopes on the newest one."""

    def __init__(self) -> None:
        self.connections: list[ServerConnection] = []
        self.received: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self._cond = threading.Condition()
        self._server: Server | None = None
        self.url = ""

    def __enter__(self) -> SocketModeServer:
        self._server = serve(self._handle, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/link/?ticket=test"
        threading.Thread(target=self._server.serve_forever, name="fake-socket-mode", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()

    def _handle(self, ws: ServerConnection) -> None:
        with self._cond:
            self.connections.append(ws)
            self.paths.append(ws.request.path if ws.request else "")
            self._cond.notify_all()
        ws.send(
            json.dumps({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0APP0001"}})
        )
        for message in ws:
            with self._cond:
                self.received.append(json.loads(message))
                self._cond.notify_all()

    def wait_connections(self, count: int, timeout: float = 10) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.connections) >= count, timeout), (
                f"{len(self.connections)} connections, expected {count}"
            )

    def send(self, message: dict[str, Any]) -> None:
        with self._cond:
            ws = self.connections[-1]
        ws.send(json.dumps(message))

    def envelope(
        self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool
    ) -> dict[str, Any]:
        """Send an envelope and wait for its acknowledgement."""
        envelope_id = str(uuid.uuid4())
        self.send(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": accepts_response_payload,
                "retry_attempt": 0,
                "retry_reason": "",
            }
        )
        with self._cond:
            ok = self._cond.wait_for(
                lambda: any(m.get("envelope_id") == envelope_id for m in self.received), timeout=15
            )
            assert ok, f"no acknowledgement of {kind} envelope {envelope_id}"
            return next(m for m in self.received if m.get("envelope_id") == envelope_id)


@pytest.fixture(scope="module")
def slack() -> Iterator[tuple[FakeSlack, SocketModeServer]]:
    with FakeSlack() as fake, SocketModeServer() as sockets:
        fake.socket_url = sockets.url
        yield fake, sockets


@pytest.fixture(scope="module")
def running(corpus_url: str, slack: tuple[FakeSlack, SocketModeServer]) -> Iterator[SocketModeServer]:
    fake, sockets = slack
    settings = Settings(
        database_url=corpus_url,
        slack_bot_token=BOT_TOKEN,
        slack_app_token=APP_TOKEN,
        slack_api_url=fake.base_url,
    )
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            serve_socket(settings, stop=stop)
        except BaseException as exc:  # surfaced by the fixture below
            errors.append(exc)

    before = len(sockets.connections)  # the module's servers outlive one backend's app
    thread = threading.Thread(target=run, name="socket-mode-app", daemon=True)
    thread.start()
    try:
        sockets.wait_connections(before + 1, timeout=60)
        yield sockets
    finally:
        stop.set()
        thread.join(timeout=15)
    assert not errors, errors
    assert not thread.is_alive(), "serve_socket did not stop"


def command_payload(command: str, text: str, response_url: str) -> dict[str, Any]:
    return {
        "token": "unused",
        "team_id": "T0TEAM001",
        "team_domain": "countermap-test",
        "channel_id": "C0CHAN001",
        "channel_name": "soc",
        "user_id": "U0USER001",
        "user_name": "analyst",
        "command": command,
        "text": text,
        "api_app_id": "A0APP0001",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": f"{time.time_ns()}.trig",
    }


def answer_of(ack: dict[str, Any], fake: FakeSlack, response_name: str) -> dict[str, Any]:
    """The answer in the ack, or (after a "looking it up" placeholder) at the response_url."""
    payload = ack.get("payload") or {}
    if payload and "Looking up" not in json.dumps(payload):
        return dict(payload)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for call in fake.calls_to("response_url"):
            if call.path.endswith("/" + response_name):
                return call.body
        time.sleep(0.05)
    raise AssertionError(f"no answer in the ack {ack} nor at the response_url")


def ask(sockets: SocketModeServer, fake: FakeSlack, command: str, text: str) -> dict[str, Any]:
    name = f"s{time.time_ns()}"
    ack = sockets.envelope(
        "slash_commands",
        command_payload(command, text, fake.response_url(name)),
        accepts_response_payload=True,
    )
    return answer_of(ack, fake, name)


def test_connects_with_the_app_token_through_the_configured_api(
    running: SocketModeServer, slack: tuple[FakeSlack, SocketModeServer]
) -> None:
    fake, _ = slack
    opened = fake.calls_to("apps.connections.open")
    assert opened and opened[0].token == APP_TOKEN
    assert running.paths[0].startswith("/link/")


def test_the_worker_writes_its_heartbeat_while_connected(corpus_url: str, running: SocketModeServer) -> None:
    import os

    from store.db import make_engine
    from store.state.heartbeats import heartbeats

    engine = make_engine(corpus_url)
    deadline = time.monotonic() + 30  # written by the heartbeat's thread, just after the start

    def ours() -> list[Any]:
        pid = f":{os.getpid()}"
        return [b for b in heartbeats(engine) if b.process == "worker" and b.instance.endswith(pid)]

    while not ours() and time.monotonic() < deadline:
        time.sleep(0.05)
    found = ours()
    engine.dispose()
    assert found and found[0].detail.get("data_version")


def test_slash_command_envelope_is_acknowledged_with_the_answer(
    running: SocketModeServer, slack: tuple[FakeSlack, SocketModeServer]
) -> None:
    fake, _ = slack
    answer = ask(running, fake, "/t1048", "SC-07")
    assert "T1048" in answer["text"] and "SC-07" in answer["text"]
    assert "Boundary Protection" in json.dumps(answer["blocks"])


def test_event_envelope_is_acknowledged_and_answered_in_the_thread(
    running: SocketModeServer, slack: tuple[FakeSlack, SocketModeServer]
) -> None:
    fake, _ = slack
    event = {
        "type": "app_mention",
        "user": "U0USER001",
        "text": "<@U0BOT0001> T1048 SC-07",
        "ts": "1700000100.000200",
        "channel": "C0SOCKET1",
        "channel_type": "channel",
    }
    body = {
        "token": "unused",
        "team_id": "T0TEAM001",
        "api_app_id": "A0APP0001",
        "event": event,
        "type": "event_callback",
        "event_id": f"EvSock{time.time_ns()}",
        "event_time": int(time.time()),
    }
    ack = running.envelope("events_api", body, accepts_response_payload=False)
    assert set(ack) == {"envelope_id"}
    deadline = time.monotonic() + 15
    while not [c for c in fake.calls_to("chat.postMessage") if c.body.get("channel") == "C0SOCKET1"]:
        assert time.monotonic() < deadline, "no threaded reply to the mention"
        time.sleep(0.05)
    reply = next(c for c in fake.calls_to("chat.postMessage") if c.body.get("channel") == "C0SOCKET1")
    assert reply.body["thread_ts"] == "1700000100.000200"
    assert reply.token == BOT_TOKEN


def test_refresh_requested_disconnect_reconnects_and_keeps_answering(
    running: SocketModeServer, slack: tuple[FakeSlack, SocketModeServer]
) -> None:
    fake, _ = slack
    before_connections = len(running.connections)
    before_opens = len(fake.calls_to("apps.connections.open"))
    running.send({"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "test"}})
    running.wait_connections(before_connections + 1, timeout=20)
    assert len(fake.calls_to("apps.connections.open")) > before_opens

    answer = ask(running, fake, "/attack", "T1048 SC-07")  # sent on the new connection
    assert "Boundary Protection" in json.dumps(answer["blocks"])


def test_the_worker_process_answers_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """``countermap serve --socket`` as the Procfile's worker runs it: schema created in a fresh
    (empty) database, connected, envelopes acknowledged, and a clean exit on SIGTERM."""
    with FakeSlack() as fake, SocketModeServer() as sockets:
        fake.socket_url = sockets.url
        (tmp_path / "worker.db").touch()  # a server never creates its database file, only the schema
        env = clean_env(
            DATABASE_URL=f"sqlite:///{tmp_path / 'worker.db'}",
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_APP_TOKEN=APP_TOKEN,
            SLACK_API_URL=fake.base_url,
        )
        log = tmp_path / "worker.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [*COUNTERMAP, "serve", "--socket"], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            sockets.wait_connections(1, timeout=60)
            name = f"w{time.time_ns()}"
            ack = sockets.envelope(
                "slash_commands", command_payload("/attack", "help", fake.response_url(name)),
                accepts_response_payload=True,
            )  # fmt: skip
            assert ack["payload"]["blocks"], ack
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        assert BOT_TOKEN not in log.read_text() and APP_TOKEN not in log.read_text()
