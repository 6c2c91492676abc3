"""The replay and duplicate-event guard when its database cannot answer: another process holds
the SQLite write lock, or PostgreSQL is unreachable.  The ack must stay within Slack's 3 seconds,
a first delivery is still answered, and a retry (``X-Slack-Retry-Num``) is refused rather than
answered a second time.  Two instances on one database, as two gunicorn workers are."""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from store.app_state import ProcessedEvent
from store.db import make_engine
from tests.fake_slack import FakeSlack, Reply
from tests.slack_harness import (
    USER,
    SlackUnderTest,
    StubAnswerer,
    app_state,
    new_event_id,
    new_ts,
    running_app,
)

ACK_SECONDS = 3.0  # Slack's budget: a reply later than this counts as a failed delivery
RETRY = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}


@pytest.fixture(autouse=True)
def _no_slack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(var, raising=False)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def two_instances(url: str) -> Iterator[tuple[SlackUnderTest, SlackUnderTest]]:
    with FakeSlack() as fake, ExitStack() as stack:
        engines = [make_engine(url) for _ in range(2)]
        apps = [stack.enter_context(running_app(e, StubAnswerer(e), fake=fake)) for e in engines]
        yield apps[0], apps[1]
        for e in engines:
            e.dispose()


def dm(text: str) -> dict[str, object]:
    """A direct message: answered without reading any channel setting from the database."""
    return {"type": "message", "channel": "D0DM001", "channel_type": "im", "user": USER, "text": text,
            "ts": new_ts()}  # fmt: skip


def deliver(app: SlackUnderTest, event: dict[str, object], event_id: str, **kwargs: object) -> Reply:
    """One delivery; raises (socket timeout) if the app does not answer within the ack budget."""
    return app.event(event, event_id=event_id, timeout=ACK_SECONDS, **kwargs)


@contextmanager
def write_lock_held(path: Path) -> Iterator[None]:
    """Another process's view: a connection holding SQLite's write lock (BEGIN IMMEDIATE)."""
    holder = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def wait_recorded(engine: Engine, key: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            found = conn.execute(
                select(ProcessedEvent.event_id).where(ProcessedEvent.event_id == key)
            ).first()
        if found:
            return
        assert time.monotonic() < deadline, f"{key} never recorded"
        time.sleep(0.05)


def assert_answered_once(a: SlackUnderTest, b: SlackUnderTest, text: str) -> None:
    a.drain()
    b.drain()
    posts = [c for c in a.fake.calls_to("chat.postMessage") if c.accepted]
    assert [c.body["text"] for c in posts] == [f"answer: {text}"]


def test_a_held_sqlite_write_lock_neither_stalls_the_ack_nor_lets_a_retry_through(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with app_state(path):
        pass  # migrated; each instance opens its own engine on it
    with two_instances(f"sqlite:///{path}") as (a, b):
        event, event_id = dm("T1048 please"), new_event_id()
        with write_lock_held(path):
            first = deliver(a, event, event_id)
            retried_elsewhere = deliver(b, event, event_id, headers=RETRY)
            retried_here = deliver(a, event, event_id, headers={**RETRY, "X-Slack-Retry-Num": "2"})
            assert_answered_once(a, b, "T1048 please")
        assert first.status == 200  # the first delivery is answered
        assert retried_elsewhere.status >= 500  # cannot tell: Slack is to try again later
        assert retried_here.status == 200  # this instance remembers handling it
        # Once the lock is gone, the delivery handled unchecked is written down, and a retry that
        # arrives after that (Slack's next is a minute later) is refused by the other instance too.
        wait_recorded(b.engine, event_id)
        later = deliver(b, event, event_id, headers={**RETRY, "X-Slack-Retry-Num": "3"})
        assert later.status == 200
        assert_answered_once(a, b, "T1048 please")


def test_an_unreachable_postgresql_neither_stalls_the_ack_nor_lets_a_retry_through() -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/test"
    with two_instances(url) as (a, b):
        event, event_id = dm("T1110 please"), new_event_id()
        replies = [deliver(a, event, event_id)]
        for n, app in enumerate((b, a, b, a, b, a, b), start=1):
            replies.append(deliver(app, event, event_id, headers={**RETRY, "X-Slack-Retry-Num": str(n)}))
        assert_answered_once(a, b, "T1110 please")
    assert replies[0].status == 200
    assert [r.status for r in replies[2::2]] == [200, 200, 200]  # a remembers handling it
    assert all(r.status >= 500 for r in replies[1::2])  # b cannot tell: Slack is to try again later


def test_an_old_request_is_not_answered_when_the_guard_cannot_check_it(tmp_path: Path) -> None:
    """A replayed signed request (same signature, minutes old) on an instance whose database
    cannot say whether it was seen: refused; a fresh one is still answered."""
    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/test"
    with two_instances(url) as (a, b):
        stamp = int(time.time()) - 120
        old = deliver(a, dm("T1059 old"), new_event_id(), timestamp=stamp)
        fresh = deliver(b, dm("T1059 fresh"), new_event_id())
        a.drain()
        b.drain()
        posts = [c.body["text"] for c in a.fake.calls_to("chat.postMessage") if c.accepted]
    assert old.status == 401 and fresh.status == 200
    assert posts == ["answer: T1059 fresh"]
