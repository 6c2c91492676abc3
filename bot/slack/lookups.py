"""Recording the ``lookups`` log (``store.state.lookups``): every question answered on Slack.

Writing it must not slow an answer down (slash-command answers travel in the ack), so rows are
written by a small background worker; a failure to log is logged, never shown to the user.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading

from sqlalchemy import Engine

from bot.answer import Answer
from bot.slack.dedup import process_write_lock
from store.state.lookups import append_lookups

log = logging.getLogger(__name__)

SOURCES = ("command", "mention", "dm", "card", "shortcut", "modal", "unfurl")
MAX_QUERY_CHARS = 500


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
            append_lookups(self.engine, rows, process_write_lock(self.engine))
        except Exception:
            log.exception("could not log %d look-up(s)", len(rows))

    def flush(self) -> None:
        self._queue.join()

    def close(self) -> None:
        if self._writer.is_alive():
            self._closing.set()
            self._queue.put(None)
            self._writer.join(timeout=10)
