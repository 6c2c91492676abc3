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
import os
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, delete

from store.app_state import ProcessedEvent
from store.db import write_connection

try:
    import fcntl
except ImportError:  # Windows: SQLite's busy wait alone keeps writers apart
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

REQUEST_PREFIX = "rq:"
REQUEST_KEY_SECONDS = 600  # twice Bolt's timestamp tolerance
EVENT_KEY_SECONDS = 2 * 86400  # Slack retries within minutes; keep a comfortable margin
PRUNE_EVERY_SECONDS = 300
KEY_CHARS = 100  # the column's width
RECENT_SECONDS = 330  # Bolt's 5-minute timestamp window, plus clock skew
RECENT_MAX = 50_000  # keys kept in memory per process (a few MB)
MAX_BATCH_ROWS = 300  # rows per PostgreSQL claim statement
IDLE_RECHECK_SECONDS = 10.0
CHECKPOINT_SECONDS = 1.0
SQLITE_AUTOCHECKPOINT = 1000  # SQLite's default, restored on a connection given back to the pool


class _WriteLock:
    """A thread lock and, for a database file, an exclusive ``flock`` on a file beside it."""

    def __init__(self, path: str | None) -> None:
        self._thread = threading.Lock()
        self._path = path
        self._fd: int | None = None

    def __enter__(self) -> _WriteLock:
        self._thread.acquire()
        if self._path is not None and fcntl is not None:
            try:
                if self._fd is None:
                    self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX)  # waits without holding the GIL
            except OSError:
                # Cannot lock the file (read-only folder?): SQLite's own busy wait still keeps
                # writers apart, only less promptly.
                log.warning("no write lock file at %s; relying on SQLite's busy wait", self._path)
                self._close_file()
                self._path = None
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._fd is not None and fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread.release()

    def _close_file(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


_write_locks: dict[tuple[int, str], _WriteLock] = {}
_write_locks_guard = threading.Lock()


def process_write_lock(engine: Engine) -> AbstractContextManager[object]:
    """Held around the Slack side's write transactions on SQLite (look-ups, cards, channel
    settings; not the replay guard's one-call claims), so that they queue instead of meeting in
    SQLite's busy handler, which sleeps in growing steps (1, 2, 5, ... up to 100 ms) while it
    waits and so makes the slowest requests slower by tens of milliseconds.

    Threads of one process queue on a lock; processes on the same database file (gunicorn
    workers, several servers on one host) on an ``flock`` of ``<database>-cmlock``, which wakes
    the next writer as soon as the last one is done.  Other programs (ingest, digest) still meet
    these writers in the busy handler.  PostgreSQL locks rows: nothing to do.
    """
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    database = engine.url.database
    path = f"{database}-cmlock" if database and database != ":memory:" else None
    key = (os.getpid(), engine.url.render_as_string(hide_password=True))  # never across a fork
    with _write_locks_guard:
        lock = _write_locks.get(key)
        if lock is None:
            lock = _write_locks[key] = _WriteLock(path)
        return lock


def request_key(signature: str) -> str:
    """``rq:`` plus the hex digest of a ``v0=...`` signature (fits the 100-character key)."""
    return REQUEST_PREFIX + signature.split("=", 1)[-1][:90]


@dataclass
class _Claim:
    keys: list[tuple[str, str | None]]
    results: list[bool] = field(default_factory=list)
    error: Exception | None = None
    done: bool = False


class _Recent:
    """Keys this process already claimed (or saw claimed), newest last, for ``RECENT_SECONDS``
    and at most ``RECENT_MAX``: a replay that lands here again is refused without the database.
    Only a shortcut: the database row stays the guard, so forgetting early is harmless."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def first(self, key: str, now: float) -> bool:
        """Remember ``key``; False if it was already remembered."""
        with self._lock:
            until = self._until.get(key)
            if until is not None:
                if until > now:
                    return False
                del self._until[key]  # re-added at the end: insertion order stays expiry order
            self._until[key] = now + RECENT_SECONDS
            if len(self._until) > RECENT_MAX:
                self._forget_old(now)
            return True

    def _forget_old(self, now: float) -> None:
        # Insertion order is expiry order: drop expired keys, then the oldest above the cap.
        excess = len(self._until) - RECENT_MAX // 2
        for key, until in list(self._until.items()):
            if until > now and excess <= 0:
                break
            del self._until[key]
            excess -= 1


class Deduplicator:
    """Claims keys in ``processed_events``; ``claim`` is True only for the first claimant.

    The claim is on every signed request's path, so it runs on one DBAPI connection this
    Deduplicator keeps for itself (no pool checkout, ping or ORM round), in autocommit.  On
    PostgreSQL a batch is one statement whose commit does not wait for the WAL flush
    (``synchronous_commit`` off for that transaction only): the row is visible to every other
    instance, and so enforced, as soon as it commits; only a database crash within a fraction of
    a second could forget it, and Bolt's 5-minute timestamp window still bounds any replay.  On
    SQLite (WAL, ``synchronous=NORMAL``: no sync on commit either) each key is one statement
    without RETURNING, so the database-wide write lock is taken and released inside one call
    into SQLite (see ``_insert``); it is not under ``process_write_lock``.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pg = engine.dialect.name == "postgresql"
        bind = ProcessedEvent.received_at.type.bind_processor(engine.dialect)
        self._stamp: Callable[[dt.datetime], object] = bind or (lambda d: d)
        into = f"INSERT INTO {ProcessedEvent.__tablename__} (event_id, team_id, received_at) "
        done = " ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
        # PostgreSQL: one text whatever the batch size, so the server prepares it once.
        self._pg_sql = (
            into + "SELECT u.k, u.t, %s FROM unnest(%s::text[], %s::text[]) AS u(k, t) "
            "CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) AS s" + done
        )
        self._sqlite_sql = into + "VALUES (?, ?, ?) ON CONFLICT (event_id) DO NOTHING"
        self._recent = _Recent()
        self._conn: Any = None  # the pooled DBAPI connection only the committing thread uses
        self._conn_used = 0.0
        self._written = 0  # SQLite rows inserted, for the checkpointer
        self._checkpointer: threading.Thread | None = None
        self._stopping = threading.Event()
        self._last_prune = 0.0
        self._prune_lock = threading.Lock()
        self._cv = threading.Condition()
        self._pending: list[_Claim] = []
        self._committing = False

    def claim(self, keys: Sequence[tuple[str, str | None]]) -> list[bool]:
        """Insert each ``(key, team_id)``; for each, whether this call inserted it (first seen).

        A key this process has seen lately is refused at once.  The rest go to the database by
        group commit: the thread that finds no write running writes every claim queued so far;
        claims arriving meanwhile wait and go in the next batch.  Alone, a request writes its own
        claim on its own thread; under load, one batch (one statement on PostgreSQL) serves many.
        """
        if not keys:
            return []
        now = time.monotonic()
        fresh = [self._recent.first(key[:KEY_CHARS], now) for key, _team in keys]
        if not any(fresh):
            return fresh
        mine = _Claim([(key[:KEY_CHARS], team) for (key, team), f in zip(keys, fresh, strict=True) if f])
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
        won = iter(mine.results)
        return [f and next(won) for f in fresh]

    def _commit(self, batch: list[_Claim]) -> None:
        rows = list({key: team for claim in batch for key, team in claim.keys}.items())
        try:
            inserted: set[str] = set()
            for i in range(0, len(rows), MAX_BATCH_ROWS):
                inserted |= self._insert(rows[i : i + MAX_BATCH_ROWS])
            for claim in batch:
                claim.results = [key in inserted for key, _team in claim.keys]
        except Exception as exc:
            for claim in batch:
                claim.error = exc
        for claim in batch:
            claim.done = True

    def _insert(self, rows: list[tuple[str, str | None]]) -> set[str]:
        """The keys of ``rows`` that this call inserted (the others were there already)."""
        stamp = self._stamp(dt.datetime.now(dt.UTC))
        conn = self._connection()
        try:
            cur = conn.cursor()
            try:
                if self._pg:
                    cur.execute(self._pg_sql, (stamp, [k for k, _ in rows], [t for _, t in rows]))
                    return {str(r[0]) for r in cur.fetchall()}
                # SQLite: one autocommit statement per row, without RETURNING, so that taking the
                # database's write lock, inserting and committing all happen inside one call into
                # SQLite, which runs without the GIL.  A statement with rows to fetch keeps its
                # transaction open until they are fetched, and a process-wide lock held in Python
                # both stay held while this thread waits for the GIL behind the worker's other
                # threads, so every other worker's writers wait too.
                inserted = set()
                for key, team in rows:
                    cur.execute(self._sqlite_sql, (key, team, stamp))
                    if cur.rowcount == 1:
                        inserted.add(key)
                self._written += len(inserted)
                return inserted
            finally:
                cur.close()
        except Exception:
            # Whatever went wrong, the next claim starts on a fresh connection; this one
            # fails open (the guard lets the request through and logs it).
            self._drop_connection(invalidate=True)
            raise

    def _connection(self) -> Any:
        """The kept DBAPI connection, in autocommit (each claim statement is its own transaction).
        After a quiet spell it goes back to the pool and a fresh checkout (pinged) replaces it."""
        now = time.monotonic()
        if self._conn is not None and now - self._conn_used > IDLE_RECHECK_SECONDS:
            self._drop_connection()
        if self._conn is None:
            conn = self.engine.raw_connection()
            if self._pg:
                conn.dbapi_connection.autocommit = True  # type: ignore[union-attr]
            else:
                # A commit that fills the WAL past its limit copies it into the database file and
                # syncs, milliseconds inside that request's ack: claims leave it to the
                # checkpointer thread (and the look-up writer's connection, which keeps the default).
                conn.dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")  # type: ignore[union-attr]
                self._start_checkpointer()
            self._conn = conn
        self._conn_used = now
        return self._conn

    def _drop_connection(self, *, invalidate: bool = False) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if invalidate:
                conn.invalidate()
                return
            if self._pg:
                conn.dbapi_connection.autocommit = False
            else:
                conn.dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT}")
            conn.close()
        except Exception:
            log.debug("releasing the claim connection failed", exc_info=True)

    def close(self) -> None:
        """Give the kept connection back and stop the checkpointer (the worker is stopping)."""
        self._stopping.set()
        with self._cv:
            if not self._committing:
                self._drop_connection()

    def _start_checkpointer(self) -> None:
        if self._checkpointer is None:
            self._checkpointer = threading.Thread(target=self._checkpoints, name="cm-checkpoint", daemon=True)
            self._checkpointer.start()

    def _checkpoints(self) -> None:
        """SQLite: every ``CHECKPOINT_SECONDS`` in which claims were written, copy the WAL into
        the database (PASSIVE: never waits for readers or writers), off the request path."""
        written = self._written
        while not self._stopping.wait(CHECKPOINT_SECONDS):
            if self._written == written:
                continue
            written = self._written
            try:
                self._checkpoint()
            except Exception:
                log.warning("WAL checkpoint failed; retrying later", exc_info=True)

    def _checkpoint(self) -> tuple[int, int, int]:
        """(busy, pages in the log, pages copied) of one PASSIVE checkpoint."""
        conn = self.engine.raw_connection()
        try:
            row = conn.dbapi_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()  # type: ignore[union-attr]
            return int(row[0]), int(row[1]), int(row[2])
        finally:
            conn.close()

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
