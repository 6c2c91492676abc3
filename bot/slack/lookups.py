"""The ``lookups`` log: every question answered on Slack, for App Home and the channel digest.

Writing it must not slow an answer down (slash-command answers travel in the ack), so rows are
written by a small background worker; a failure to log is logged, never shown to the user.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select

from bot.answer import Answer
from bot.slack.dedup import process_write_lock
from store.app_state import Lookup
from store.db import write_connection

log = logging.getLogger(__name__)

SOURCES = ("command", "mention", "dm", "card", "shortcut", "modal", "unfurl")
MAX_QUERY_CHARS = 500
_COLUMNS = (
    "team_id",
    "channel_id",
    "user_id",
    "source",
    "query",
    "technique_ids",
    "capability_ids",
    "created_at",
)
_SQLITE_ROWS = 1000  # rows per statement: 8 parameters each, far below SQLite's 32,766


@dataclass(frozen=True)
class RecentLookup:
    query: str
    source: str
    channel_id: str | None
    technique_ids: tuple[str, ...]
    capability_ids: tuple[str, ...]
    created_at: dt.datetime


class LookupLog:
    """Records look-ups off the request thread, in batches (one write transaction for whatever
    queued up meanwhile, so a burst of answers does not queue for SQLite's write lock one by one).
    One per app; ``flush`` waits for what is queued, ``close`` writes the rest and stops."""

    def __init__(self, engine: Engine, *, max_batch: int = 500, batch_delay: float = 0.5) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.batch_delay = batch_delay  # let rows gather: one write per interval, not per answer
        self._closing = threading.Event()
        self._queue: queue.Queue[dict[str, object] | None] = queue.Queue()
        self._writer = threading.Thread(target=self._run, name="cm-lookups", daemon=True)
        self._writer.start()

    def record(
        self,
        answer: Answer,
        *,
        source: str,
        query: str,
        team_id: str | None,
        channel_id: str | None,
        user_id: str | None,
    ) -> bool:
        """Queue one row, for answers about something (not help or "nothing found")."""
        if not team_id or not (answer.technique_ids or answer.capability_ids):
            return False
        self._queue.put(
            {
                "team_id": team_id,
                "channel_id": channel_id,
                "user_id": user_id,
                "source": source,
                "query": query[:MAX_QUERY_CHARS],
                "technique_ids": list(answer.technique_ids),
                "capability_ids": list(answer.capability_ids),
                "created_at": dt.datetime.now(dt.UTC),
            }
        )
        return True

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is not None and not self._closing.is_set():
                self._closing.wait(self.batch_delay)
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            rows = [r for r in batch if r is not None]
            if rows:
                self._write(rows)
            for _ in batch:
                self._queue.task_done()
            if None in batch:
                return

    def _write(self, rows: list[dict[str, object]]) -> None:
        try:
            if self.engine.dialect.name == "sqlite":
                self._write_sqlite(rows)
            else:
                with write_connection(self.engine) as conn:
                    conn.execute(insert(Lookup), rows)
        except Exception:
            log.exception("could not log %d look-up(s)", len(rows))

    def _write_sqlite(self, rows: list[dict[str, object]]) -> None:
        """One multi-row statement per chunk, its parameters made before taking the write lock.

        SQLite has one write lock for the whole database, and every request's replay guard needs
        it.  Inserted row by row (``executemany``), the lock stays held across one call into
        SQLite per row, and between calls this thread waits for the GIL behind the worker's busy
        threads: tens of milliseconds under load, during which every worker's requests wait.
        One statement takes the lock, inserts and commits inside a single call (no GIL held).
        """
        dialect = self.engine.dialect
        table = Lookup.__table__
        binds = [(name, table.c[name].type.bind_processor(dialect)) for name in _COLUMNS]
        values = [bind(row[name]) if bind else row[name] for row in rows for name, bind in binds]
        width = len(_COLUMNS)
        placeholders = "(" + ", ".join("?" * width) + ")"
        for start in range(0, len(rows), _SQLITE_ROWS):
            chunk = values[start * width : (start + _SQLITE_ROWS) * width]
            sql = f"INSERT INTO {Lookup.__tablename__} ({', '.join(_COLUMNS)}) VALUES " + ", ".join(
                [placeholders] * (len(chunk) // width)
            )
            with process_write_lock(self.engine):
                conn = self.engine.raw_connection()  # autocommit: the statement is its transaction
                try:
                    cur = conn.cursor()
                    cur.execute(sql, chunk)
                    cur.close()
                finally:
                    conn.close()

    def flush(self) -> None:
        self._queue.join()

    def close(self) -> None:
        if self._writer.is_alive():
            self._closing.set()
            self._queue.put(None)
            self._writer.join(timeout=10)


def recent_for_user(engine: Engine, team_id: str, user_id: str, limit: int = 8) -> list[RecentLookup]:
    """The user's newest look-ups, newest first, one per distinct query."""
    stmt = (
        select(
            Lookup.query,
            Lookup.source,
            Lookup.channel_id,
            Lookup.technique_ids,
            Lookup.capability_ids,
            Lookup.created_at,
        )
        .where(Lookup.team_id == team_id, Lookup.user_id == user_id)
        .order_by(Lookup.created_at.desc(), Lookup.id.desc())
        .limit(limit * 4)
    )
    seen: set[str] = set()
    out: list[RecentLookup] = []
    with engine.connect() as conn:
        for row in conn.execute(stmt).mappings():
            key = row["query"].strip().lower()
            if key in seen:
                continue
            seen.add(key)
            out.append(
                RecentLookup(
                    query=row["query"],
                    source=row["source"],
                    channel_id=row["channel_id"],
                    technique_ids=_strs(row["technique_ids"]),
                    capability_ids=_strs(row["capability_ids"]),
                    created_at=row["created_at"],
                )
            )
            if len(out) >= limit:
                break
    return out


def _strs(value: Sequence[object] | None) -> tuple[str, ...]:
    return tuple(str(v) for v in value or ())
