"""Exactly-once guards for Slack deliveries, shared by every instance through the database.

Two kinds of key go into ``processed_events`` (its primary key is the guard):

* an Events API ``event_id``: Slack re-sends an event it thinks went unanswered
  (``X-Slack-Retry-Num``), and with several instances behind a load balancer the copies can land
  anywhere, so only a row that one instance managed to insert may produce a reply;
* ``rq:<signature>`` for every signed HTTP request: a request whose signature (and so timestamp)
  was already seen is a replay, refused even though its signature is valid.  Bolt refuses stale
  timestamps (> 5 minutes) itself, so keys older than that are pruned.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from sqlalchemy import Engine, delete
from sqlalchemy.dialects import postgresql, sqlite

from store.db import write_connection
from store.models import ProcessedEvent

log = logging.getLogger(__name__)

REQUEST_PREFIX = "rq:"
REQUEST_KEY_SECONDS = 600  # twice Bolt's timestamp tolerance
EVENT_KEY_SECONDS = 2 * 86400  # Slack retries within minutes; keep a comfortable margin
PRUNE_EVERY_SECONDS = 300


_write_locks: dict[str, threading.Lock] = {}
_write_locks_guard = threading.Lock()


def process_write_lock(engine: Engine) -> AbstractContextManager[object]:
    """One lock per SQLite database per process, held around the Slack side's write transactions.

    SQLite has a single write lock and its busy handler sleeps in growing steps (up to 100 ms)
    while it waits, so writers in one process queue here instead, leaving one contender per
    process.  PostgreSQL locks rows: nothing to do.
    """
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    key = engine.url.render_as_string(hide_password=True)
    with _write_locks_guard:
        return _write_locks.setdefault(key, threading.Lock())


def request_key(signature: str) -> str:
    """``rq:`` plus the hex digest of a ``v0=...`` signature (fits the 100-character key)."""
    return REQUEST_PREFIX + signature.split("=", 1)[-1][:90]


@dataclass
class _Claim:
    keys: list[tuple[str, str | None]]
    results: list[bool] = field(default_factory=list)
    error: Exception | None = None
    done: bool = False


class Deduplicator:
    """Claims keys in ``processed_events``; ``claim`` is True only for the first claimant."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        # Built once: the hot path only binds parameters (RETURNING: rowcount is not reliable
        # for ON CONFLICT DO NOTHING across drivers).
        self._claim = (
            insert(ProcessedEvent)
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(ProcessedEvent.event_id)
        )
        self._last_prune = 0.0
        self._prune_lock = threading.Lock()
        self._cv = threading.Condition()
        self._pending: list[_Claim] = []
        self._committing = False

    def claim(self, keys: Sequence[tuple[str, str | None]]) -> list[bool]:
        """Insert each ``(key, team_id)``; for each, whether this call inserted it (first seen).

        Group commit: the thread that finds no transaction running commits every claim queued
        so far in one transaction; claims arriving meanwhile wait and go in the next one.  Alone,
        a request commits its own claim on its own thread; under load, one commit serves many.
        """
        if not keys:
            return []
        mine = _Claim(list(keys))
        with self._cv:
            self._pending.append(mine)
            while self._committing and not mine.done:
                self._cv.wait()
            if not mine.done:
                batch, self._pending = self._pending, []
                self._committing = True
        if not mine.done:
            try:
                self._commit(batch)
            finally:
                with self._cv:
                    self._committing = False
                    self._cv.notify_all()
        self._maybe_prune()
        if mine.error is not None:
            raise mine.error
        return mine.results

    def _commit(self, batch: list[_Claim]) -> None:
        now = dt.datetime.now(dt.UTC)
        try:
            with process_write_lock(self.engine), write_connection(self.engine) as conn:
                for claim in batch:
                    claim.results = [
                        conn.execute(
                            self._claim, {"event_id": key[:100], "team_id": team_id, "received_at": now}
                        ).first()
                        is not None
                        for key, team_id in claim.keys
                    ]
        except Exception as exc:
            for claim in batch:
                claim.error = exc
        for claim in batch:
            claim.done = True

    def _maybe_prune(self) -> None:
        now = time.monotonic()
        if now - self._last_prune < PRUNE_EVERY_SECONDS or not self._prune_lock.acquire(blocking=False):
            return
        try:
            self._last_prune = now
            self.prune()
        except Exception:  # pruning is housekeeping: never fail a request for it
            log.exception("pruning processed_events failed")
        finally:
            self._prune_lock.release()

    def prune(self) -> int:
        """Forget request keys past the replay window and event keys past the retry window."""
        now = dt.datetime.now(dt.UTC)
        with process_write_lock(self.engine), write_connection(self.engine) as conn:
            gone = conn.execute(
                delete(ProcessedEvent).where(
                    ProcessedEvent.event_id.startswith(REQUEST_PREFIX),
                    ProcessedEvent.received_at < now - dt.timedelta(seconds=REQUEST_KEY_SECONDS),
                )
            ).rowcount
            gone += conn.execute(
                delete(ProcessedEvent).where(
                    ProcessedEvent.received_at < now - dt.timedelta(seconds=EVENT_KEY_SECONDS)
                )
            ).rowcount
        return int(gone)
