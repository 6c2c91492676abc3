"""Exactly-once guards for Slack deliveries, shared by every instance through the database.

Two kinds of key go into ``processed_events`` (its primary key is the guard):

* an Events API ``event_id``: Slack re-sends an event it thinks went unanswered
  (``X-Slack-Retry-Num``), and with several instances behind a load balancer the copies can land
  anywhere, so only a row that one instance managed to insert may produce a reply;
* ``rq:<signature>`` for every signed HTTP request: a request whose signature (and so timestamp)
  was already seen is a replay, refused even though its signature is valid.  Bolt refuses stale
  timestamps (> 5 minutes) itself, so keys older than that are pruned.

The claim sits inside Slack's 3-second ack, so it never waits long for the database: at most
``GUARD_WAIT_SECONDS`` in all (SQLite's busy wait, PostgreSQL's lock and statement timeouts and
its connect are bounded on the guard's own connection, and a connection still being opened is
not waited for past the budget).  When the database cannot say, ``claim`` raises
``GuardUnavailable`` and the app decides (``bot.slack.app.DeliveryGuard``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, create_engine, delete

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
GUARD_WAIT_SECONDS = 0.8  # the most a claim waits for the database, well inside the 3 s ack
STATEMENT_MS = 400  # SQLite busy wait / PostgreSQL lock and statement timeout of one claim
SQLITE_BUSY_MS = 30_000  # store.db's busy timeout, restored on a connection given back to the pool
PG_CONNECT_SECONDS = 2  # libpq's (and psycopg's) least connect timeout; not waited for in an ack
PG_TCP_USER_TIMEOUT_MS = 1500  # a vanished server fails the guard's statement instead of hanging


LATER_RETRY_SECONDS = 1.0  # how often keys handled while the database was away are written again
LATER_MAX = 10_000  # keys waiting to be written, at most (the oldest are dropped past it)


class GuardUnavailable(Exception):
    """The database could not say within the guard's budget whether the keys were seen.
    ``seen_here[i]``: this process itself remembers key ``i`` as seen already."""

    def __init__(self, reason: str, seen_here: Sequence[bool] = ()) -> None:
        super().__init__(reason)
        self.seen_here = list(seen_here)


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
    value: int | None = None  # ``read_after``'s value, read once this claim's rows were in


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

    def forget(self, key: str) -> None:
        with self._lock:
            self._until.pop(key, None)

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

    def __init__(self, engine: Engine, *, read_after: str | None = None) -> None:
        """``read_after``: a constant select of one integer (one row, one column; none is 0) that
        each claim also reads, after its rows are in, on the same connection: in the same
        statement on PostgreSQL, once per batch on SQLite (``claim_and_read``)."""
        self.engine = engine
        self._pg = engine.dialect.name == "postgresql"
        self._read_after = read_after
        # PostgreSQL: the guard's own small pool, whose connections bound every wait themselves
        # (connect, locks, statements, a server gone silent); the app's pool keeps its defaults.
        self._claims_engine = _guard_engine(engine) if self._pg else engine
        self._opening: Future[Any] | None = None  # a connection being opened off the request path
        self._later: dict[str, str | None] = {}  # handled, not yet in the database (record_later)
        self._later_lock = threading.Lock()
        self._later_writer: threading.Thread | None = None
        bind = ProcessedEvent.received_at.type.bind_processor(engine.dialect)
        self._stamp: Callable[[dt.datetime], object] = bind or (lambda d: d)
        into = f"INSERT INTO {ProcessedEvent.__tablename__} (event_id, team_id, received_at) "
        done = " ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
        # PostgreSQL: one text whatever the batch size, so the server prepares it once.
        self._pg_sql = (
            into + "SELECT u.k, u.t, %s FROM unnest(%s::text[], %s::text[]) AS u(k, t) "
            "CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) AS s" + done
        )
        if read_after:  # the inserted keys, then one row (NULL, value) in the same statement
            self._pg_sql = (
                f"WITH ins AS ({self._pg_sql}) SELECT event_id, NULL::bigint FROM ins "
                f"UNION ALL SELECT NULL, COALESCE(({read_after}), 0)"
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
        return self.claim_and_read(keys)[0]

    def claim_and_read(self, keys: Sequence[tuple[str, str | None]]) -> tuple[list[bool], int | None]:
        """Insert each ``(key, team_id)``; for each, whether this call inserted it (first seen);
        and ``read_after``'s value, read after the rows went in (None: not read, when every key
        was refused from memory or there is no ``read_after``).

        A key this process has seen lately is refused at once.  The rest go to the database by
        group commit: the thread that finds no write running writes every claim queued so far;
        claims arriving meanwhile wait and go in the next batch.  Alone, a request writes its own
        claim on its own thread; under load, one batch (one statement on PostgreSQL) serves many.
        """
        if not keys:
            return [], None
        now = time.monotonic()
        deadline = now + GUARD_WAIT_SECONDS
        fresh = [self._recent.first(key[:KEY_CHARS], now) for key, _team in keys]
        if not any(fresh):
            return fresh, None
        mine = _Claim([(key[:KEY_CHARS], team) for (key, team), f in zip(keys, fresh, strict=True) if f])
        try:
            self._claim_in_database(mine, deadline)
        except Exception as exc:
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
            raise GuardUnavailable(reason, seen_here=[not f for f in fresh]) from exc
        finally:
            self._maybe_prune()
        won = iter(mine.results)
        return [f and next(won) for f in fresh], mine.value

    def _claim_in_database(self, mine: _Claim, deadline: float) -> None:
        """Group commit: the thread that finds no write running writes every claim queued so far."""
        with self._cv:
            self._pending.append(mine)
            while self._committing and not mine.done:
                left = deadline - time.monotonic()
                if left <= 0:
                    if mine in self._pending:  # not taken by a batch: withdraw it
                        self._pending.remove(mine)
                    raise GuardUnavailable("the database is slow to record deliveries")
                self._cv.wait(left)
            if not mine.done:
                batch, self._pending = self._pending, []
                self._committing = True
        if not mine.done:
            try:
                self._commit(batch, deadline)
            finally:
                with self._cv:
                    self._committing = False
                    self._cv.notify_all()
        if mine.error is not None:
            raise mine.error

    def forget(self, keys: Sequence[tuple[str, str | None]]) -> None:
        """Drop ``keys`` from this process's memory: a delivery refused unchecked was not handled,
        so its next attempt must not look like a duplicate."""
        for key, _team in keys:
            self._recent.forget(key[:KEY_CHARS])

    def record_later(self, keys: Sequence[tuple[str, str | None]]) -> None:
        """``keys`` were handled while the database could not record them: write them from a
        background thread as soon as it can, so that a retry arriving after it recovered (Slack
        retries after a minute, then five) is refused by every instance."""
        with self._later_lock:
            for key, team in keys:
                self._later[key[:KEY_CHARS]] = team
            while len(self._later) > LATER_MAX:
                del self._later[next(iter(self._later))]
            if self._later_writer is None or not self._later_writer.is_alive():
                self._later_writer = threading.Thread(
                    target=self._write_later, name="cm-guard-later", daemon=True
                )
                self._later_writer.start()

    def _write_later(self) -> None:
        while not self._stopping.wait(LATER_RETRY_SECONDS):
            with self._later_lock:
                rows = list(self._later.items())
                if not rows:
                    self._later_writer = None
                    return
            try:
                self._claim_in_database(_Claim(rows), time.monotonic() + GUARD_WAIT_SECONDS)
            except Exception as exc:
                log.debug("keys handled unchecked are still not recorded: %s", exc)
                continue
            with self._later_lock:
                for key, team in rows:
                    if self._later.get(key, "\0") == team:
                        del self._later[key]
            log.info("recorded %d deliveries handled while the database could not be reached", len(rows))

    def _commit(self, batch: list[_Claim], deadline: float) -> None:
        rows = list({key: team for claim in batch for key, team in claim.keys}.items())
        try:
            inserted: set[str] = set()
            value = None
            for i in range(0, len(rows), MAX_BATCH_ROWS):
                more, value = self._insert(rows[i : i + MAX_BATCH_ROWS], deadline)
                inserted |= more
            for claim in batch:
                claim.results = [key in inserted for key, _team in claim.keys]
                claim.value = value
        except Exception as exc:
            for claim in batch:
                claim.error = exc
        for claim in batch:
            claim.done = True

    def _insert(self, rows: list[tuple[str, str | None]], deadline: float) -> tuple[set[str], int | None]:
        """The keys of ``rows`` that this call inserted (the others were there already), and
        ``read_after``'s value once they are in."""
        stamp = self._stamp(dt.datetime.now(dt.UTC))
        conn = self._connection(deadline)
        try:
            cur = conn.cursor()
            try:
                if self._pg:
                    cur.execute(self._pg_sql, (stamp, [k for k, _ in rows], [t for _, t in rows]))
                    found = cur.fetchall()
                    if not self._read_after:
                        return {str(r[0]) for r in found}, None
                    value = next(int(r[1]) for r in found if r[0] is None)
                    return {str(r[0]) for r in found if r[0] is not None}, value
                # SQLite: one autocommit statement per row, without RETURNING, so that taking the
                # database's write lock, inserting and committing all happen inside one call into
                # SQLite, which runs without the GIL.  A statement with rows to fetch keeps its
                # transaction open until they are fetched, and a process-wide lock held in Python
                # both stay held while this thread waits for the GIL behind the worker's other
                # threads, so every other worker's writers wait too.
                inserted = set()
                for key, team in rows:
                    if time.monotonic() > deadline:
                        raise GuardUnavailable("the database is slow to record deliveries")
                    cur.execute(self._sqlite_sql, (key, team, stamp))
                    if cur.rowcount == 1:
                        inserted.add(key)
                self._written += len(inserted)
                read: int | None = None
                if self._read_after:
                    row = cur.execute(self._read_after).fetchone()
                    read = int(row[0]) if row and row[0] is not None else 0
                return inserted, read
            finally:
                cur.close()
        except Exception:
            # Whatever went wrong, the next claim starts on a fresh connection; this one
            # fails open (the guard lets the request through and logs it).
            self._drop_connection(invalidate=True)
            raise

    def _connection(self, deadline: float) -> Any:
        """The kept DBAPI connection, in autocommit (each claim statement is its own transaction).
        After a quiet spell it goes back to the pool and a fresh checkout (pinged) replaces it.
        A checkout that may have to connect runs on a helper thread, waited for only until
        ``deadline``; a later claim picks up the connection once it is there."""
        now = time.monotonic()
        if self._conn is not None and now - self._conn_used > IDLE_RECHECK_SECONDS:
            self._drop_connection()
        if self._conn is None:
            if self._opening is None:
                self._opening = Future()
                threading.Thread(
                    target=self._open, args=(self._opening,), name="cm-guard-connect", daemon=True
                ).start()
            try:
                conn = self._opening.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                raise GuardUnavailable("no database connection yet") from None
            finally:
                if self._opening.done():
                    self._opening = None
            self._conn = conn
        self._conn_used = now
        return self._conn

    def connect_now(self, seconds: float = 5.0) -> None:
        """Open the kept connection now (a forked worker, before it serves): the first claim
        would otherwise open it inside the first request's ack (17-26 ms on SQLite)."""
        try:
            with self._cv:
                if self._conn is None and not self._committing:
                    self._connection(time.monotonic() + seconds)
        except Exception:  # the first claim tries again
            log.warning("could not open the replay guard's connection at start", exc_info=True)
        self._maybe_prune()  # the first prune is due at once: its thread starts here, not in a request

    def _open(self, result: Future[Any]) -> None:
        try:
            conn = self._claims_engine.raw_connection()
            if self._pg:
                conn.dbapi_connection.autocommit = True  # type: ignore[union-attr]
            else:
                # A commit that fills the WAL past its limit copies it into the database file and
                # syncs, milliseconds inside that request's ack: claims leave it to the
                # checkpointer thread (and the look-up writer's connection, which keeps the default).
                conn.dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")  # type: ignore[union-attr]
                # Another process holding the write lock (an ingest, a stuck writer) must not hold
                # up the ack: give up soon, and the app decides what an unknown answer means.
                conn.dbapi_connection.execute(f"PRAGMA busy_timeout={STATEMENT_MS}")  # type: ignore[union-attr]
                self._start_checkpointer()
        except BaseException as exc:
            result.set_exception(exc)
        else:
            result.set_result(conn)

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
                conn.dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
            conn.close()
        except Exception:
            log.debug("releasing the claim connection failed", exc_info=True)

    def close(self) -> None:
        """Give the kept connection back and stop the checkpointer (the worker is stopping)."""
        self._stopping.set()
        with self._cv:
            if not self._committing:
                self._drop_connection()
        if self._claims_engine is not self.engine:
            self._claims_engine.dispose()

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
        """Now and then, prune on a thread of its own: a delete may wait out the busy timeout."""
        now = time.monotonic()
        if now - self._last_prune < PRUNE_EVERY_SECONDS or not self._prune_lock.acquire(blocking=False):
            return
        self._last_prune = now
        threading.Thread(target=self._prune_quietly, name="cm-guard-prune", daemon=True).start()

    def _prune_quietly(self) -> None:
        try:
            self.prune()
        except Exception as exc:  # pruning is housekeeping: never fail a request for it
            log.warning("pruning processed_events failed: %s", " ".join(str(exc).split())[:200])
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


def _guard_engine(engine: Engine) -> Engine:
    """A small pool on the same PostgreSQL database for the guard alone: every wait of its
    connections is bounded (connect, locks, statements, unacknowledged packets)."""
    options = f"-c lock_timeout={STATEMENT_MS} -c statement_timeout={STATEMENT_MS}"
    return create_engine(
        engine.url,
        pool_size=1,
        max_overflow=0,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": PG_CONNECT_SECONDS,
            "tcp_user_timeout": PG_TCP_USER_TIMEOUT_MS,
            "options": options,
        },
    )
