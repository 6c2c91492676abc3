"""The Slack app under test: built by ``build_app``, served over real HTTP on 127.0.0.1 by the
production WSGI application (``bot.slack.server.SlackWSGI``), talking to a ``FakeSlack`` Web API.
Requests are signed as Slack signs them.  Also a small stand-in Answerer for tests about the
listeners themselves (answers from the real corpus are tested with the real Answerer)."""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from sqlalchemy import Engine

from bot import actions
from bot.answer import Answer, Answerer, Payload
from bot.config import Settings
from bot.digest.commands import handle_digest_command
from bot.ops.context import ContextExecutor
from bot.slack.app import build_app
from tests.fake_slack import FakeSlack, Reply, command_body, event_body, interactive_body, post

SECRET = "e2e-signing-secret-5f0c"
TOKEN = "xoxb-e2e-bot-token"
TEAM = "T0TEAM001"
USER = "U0USER001"
CHANNEL = "C0CHAN001"
_ids = itertools.count(1)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(wsgi_app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, wsgi_app, server_class=_Server, handler_class=_Quiet)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="slack-app-under-test", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class TrackingExecutor(ContextExecutor):
    """The app's listener pool (tasks keep the request's context) that can also say when everything
    submitted to it so far has finished, so a test knows the listeners a request started are done
    instead of sleeping and hoping."""

    def __init__(self, max_workers: int, name: str) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=name)
        self._futures: list[Future[Any]] = []
        self._futures_lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()

    def hold(self) -> None:
        """Work submitted from now on waits (on its worker thread) until ``release``: a test can
        let a request's ack go out first, whatever the machine's timing."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        opened = self._open

        def when_released(*a: Any, **k: Any) -> Any:
            opened.wait(timeout=60)
            return fn(*a, **k)

        future = super().submit(when_released, *args, **kwargs)
        with self._futures_lock:
            self._futures = [f for f in self._futures if not f.done()]
            self._futures.append(future)
        return future

    def pending(self) -> list[Future[Any]]:
        with self._futures_lock:
            return [f for f in self._futures if not f.done()]

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no submitted work is left (work may submit more); False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.pending()
            if not left:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            wait_futures(left, timeout=remaining)


@dataclass
class SlackUnderTest:
    fake: FakeSlack
    app: App
    base_url: str
    settings: Settings
    engine: Engine
    executors: tuple[TrackingExecutor, ...] = ()

    def wait_idle(self, timeout: float = 15.0) -> None:
        """Every listener (lazy or on the answer pool) started so far has finished."""
        deadline = time.monotonic() + timeout
        while True:
            idle = all(e.wait_idle(max(0.0, deadline - time.monotonic())) for e in self.executors)
            if idle and not any(e.pending() for e in self.executors):  # one may have fed the other
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"listeners still running after {timeout}s")

    def drain(self, timeout: float = 15.0) -> None:
        """Wait for every listener the requests sent so far started: after this, whatever they
        will ever send to Slack has been sent, so "nothing (else) was posted" can be asserted."""
        self.wait_idle(timeout)

    @property
    def events_url(self) -> str:
        return self.base_url + "/slack/events"

    def send(self, body: str, content_type: str, **kwargs: Any) -> Reply:
        kwargs.setdefault("secret", SECRET)
        return post(self.events_url, body, content_type=content_type, **kwargs)

    def command(self, text: str, command: str | None = None, **fields: str) -> Reply:
        fields.setdefault("response_url", self.fake.response_url(f"cmd{next(_ids)}"))
        body = command_body(command or self.settings.command_name, text, **fields)
        return self.send(body, "application/x-www-form-urlencoded")

    def event(self, event: Mapping[str, Any], *, event_id: str | None = None, **kwargs: Any) -> Reply:
        body = event_body(event, event_id=event_id or new_event_id())
        return self.send(body, "application/json", **kwargs)

    def interact(self, payload: Mapping[str, Any]) -> Reply:
        return self.send(interactive_body(payload), "application/x-www-form-urlencoded")


def new_event_id() -> str:
    return f"Ev{time.time_ns()}{next(_ids)}"


def new_ts() -> str:
    return f"{time.time():.6f}"


@contextlib.contextmanager
def app_state(path: Path) -> Iterator[Engine]:
    """The app's own state (replay guard, cards, look-ups...) in a migrated SQLite file."""
    from store.db import make_engine
    from store.migrate import upgrade

    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@contextlib.contextmanager
def running_app(
    engine: Engine,
    answerer: Any,
    *,
    fake: FakeSlack | None = None,
    **settings_changes: Any,
) -> Iterator[SlackUnderTest]:
    """The app on a free port, its Web API pointed at ``fake`` (a new one unless given)."""
    from bot.slack.server import SlackWSGI

    with contextlib.ExitStack() as stack:
        if fake is None:
            fake = stack.enter_context(FakeSlack())
        settings = Settings(
            slack_bot_token=TOKEN,
            slack_signing_secret=SECRET,
            slack_api_url=fake.base_url,
            **settings_changes,
        )
        listeners = TrackingExecutor(5, "bolt-listener")  # Bolt's default pool: 5 threads
        app = build_app(
            settings, engine, answerer, digest_command=handle_digest_command, listener_executor=listeners
        )
        deps = app._countermap_deps  # type: ignore[attr-defined]
        answers = TrackingExecutor(deps.pool._max_workers, "cm-answer")
        deps.pool.shutdown(wait=True)  # only the warm-up ran there
        deps.pool = answers
        url = stack.enter_context(serve(SlackWSGI(app, engine)))
        yield SlackUnderTest(fake, app, url, settings, engine, (listeners, answers))
        deps.close()
        listeners.shutdown(wait=True)


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    """Every interactive element's action_id in a block list."""
    out = []
    for b in blocks:
        for el in b.get("elements", []) if b.get("type") == "actions" else []:
            out.append(str(el.get("action_id")))
        acc = b.get("accessory")
        if isinstance(acc, dict) and acc.get("action_id"):
            out.append(str(acc["action_id"]))
    return out


def element(blocks: list[dict[str, Any]], action_prefix: str) -> dict[str, Any]:
    for b in blocks:
        candidates = list(b.get("elements", [])) if b.get("type") == "actions" else []
        if isinstance(b.get("accessory"), dict):
            candidates.append(b["accessory"])
        for el in candidates:
            if str(el.get("action_id", "")).split(":")[0] == action_prefix:
                return dict(el)
    raise AssertionError(f"no {action_prefix} element in {json.dumps(blocks)[:500]}")


def block_actions(
    el: dict[str, Any],
    *,
    channel: str = CHANNEL,
    message: dict[str, Any] | None = None,
    ephemeral: bool = False,
    response_url: str,
    user: str = USER,
) -> dict[str, Any]:
    """A ``block_actions`` payload for a click on ``el`` as Slack sends it."""
    action: dict[str, Any] = {
        "action_id": el["action_id"],
        "block_id": "b1",
        "type": el.get("type", "button"),
    }
    if "value" in el:
        action["value"] = el["value"]
    if el.get("type") == "static_select":
        action["selected_option"] = el["options"][0]
    ts = (message or {}).get("ts", new_ts())
    return {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "test"},
        "user": {"id": user, "team_id": TEAM},
        "api_app_id": "A0APP0001",
        "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": ephemeral},
        "channel": {"id": channel, "name": "soc"},
        "message": message or {"type": "message", "ts": ts},
        "response_url": response_url,
        "trigger_id": "1337.42.trigger",
        "actions": [action],
    }


# -------------------------------------------------------------------------- stand-in answerer


@dataclass
class StubAnswerer:
    """Answers "about" every technique ID in the text; raises on ``boom``; sleeps on ``slow``.
    Its payloads carry the real interactive IDs, so listeners route them as in production."""

    engine: Engine
    settings: Settings = field(default_factory=Settings)
    slow_seconds: float = 3.0
    asked: list[str] = field(default_factory=list)
    frameworks_asked: list[tuple[str, ...]] = field(default_factory=list)

    def _payload(self, title: str, state: str, *, shared_by: str | None = None) -> Payload:
        from bot.slack.messages import esc

        text = esc(title) + (f" (shared by <@{shared_by}>)" if shared_by else "")
        blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
        buttons = [
            {"type": "button", "action_id": actions.PAGE, "text": {"type": "plain_text", "text": "Next"},
             "value": f"page2|{state}"},
            {"type": "button", "action_id": actions.EXPORT_CSV, "text": {"type": "plain_text", "text": "CSV"},
             "value": state},
        ]  # fmt: skip
        if not shared_by:
            share = {"type": "plain_text", "text": "Share"}
            buttons.append({"type": "button", "action_id": actions.SHARE, "text": share, "value": state})
        blocks.append({"type": "actions", "elements": buttons})
        return Payload(text=text, blocks=blocks)

    def answer(
        self,
        text: str,
        *,
        frameworks: Any = (),
        filters: Any = None,
        compact: bool = False,
        inventory: Any = None,
    ) -> Answer:
        from bot.slack.cards import technique_ids_in

        self.asked.append(text)
        self.frameworks_asked.append(tuple(frameworks))
        if "boom" in text:
            raise RuntimeError("the answerer broke")
        if "slow" in text:
            time.sleep(self.slow_seconds)
        tids = tuple(technique_ids_in(text))
        return Answer(bool(tids), None, None, self._payload(f"answer: {text}", text), technique_ids=tids)

    def answer_from_state(self, value: str, *, shared_by: str | None = None, inventory: Any = None) -> Answer:
        return Answer(True, None, None, self._payload(f"state: {value}", value, shared_by=shared_by))

    cards_asked: list[tuple[str, tuple[str, ...], Any]] = field(default_factory=list)

    def card(
        self, technique_id: str, *, frameworks: Any = (), filters: Any = None, inventory: Any = None
    ) -> Answer:
        self.cards_asked.append((technique_id, tuple(frameworks), filters))
        ok = technique_id.startswith("T1")
        return Answer(ok, None, None, self._payload(f"card: {technique_id}", technique_id), (technique_id,))

    def export(self, value: str, fmt: str) -> tuple[str, bytes]:
        name = "countermap.json" if fmt == "navigator" else "countermap.csv"
        return name, f"export of {value}\n".encode()


def stub(engine: Engine) -> Answerer:
    return StubAnswerer(engine)  # type: ignore[return-value]
