"""Recording the ``lookups`` log (``store.state.lookups``): every question answered on Slack, and
the questions it could not answer (``store.state.unanswered``, pruned after the retention period).

Writing it must not slow an answer down (slash-command answers travel in the ack), so rows are
written by a small background worker; a failure to log is logged, never shown to the user.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time

from bot.answer import Answer
from bot.config import Settings
from bot.slack.observe import observe_answer
from bot.unanswered import unanswered_row
from store.db import Engine
from store.state.lookups import append_lookups
from store.state.processed_events import process_write_lock
from store.state.unanswered import UnansweredRow, prune_unanswered, record_unanswered

log = logging.getLogger(__name__)

SOURCES = ("command", "mention", "dm", "card", "shortcut", "modal", "unfurl")
MAX_QUERY_CHARS = 500
PRUNE_EVERY_SECONDS = 3600.0


class LookupLog:
    """Records look-ups off the request thread, in batches (one write transaction for whatever
    queued up meanwhile, so a burst of answers does not queue for SQLite's write lock one by one).
    One per app; ``flush`` waits for what is queued, ``close`` writes the rest and stops."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = 500,
        batch_delay: float = 0.5,
        settings: Settings | None = None,
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.batch_delay = batch_delay  # let rows gather: one write per interval, not per answer
        self.settings = settings or Settings()
        self._pruned_at = float("-inf")
        self.restart()

    def restart(self) -> None:
        """Start the writer (again, in a forked process: the parent's thread and queue stay there)."""
        self._closing = threading.Event()
        self._queue: queue.Queue[dict[str, object] | UnansweredRow | None] = queue.Queue()
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
        """Queue one row, for answers about something (not help or "nothing found"); a question
        answered with nothing, or with a low-confidence guess, also goes to the unanswered log.
        Every question is counted by intent (or as unanswered) and logged with its request."""
        missed = unanswered_row(
            answer, surface=source, query=query, team_id=team_id, user_id=user_id, settings=self.settings
        )
        if missed is not None:
            self._queue.put(missed)
        observe_answer(answer, source, unanswered=missed is not None)
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
            rows = [r for r in batch if isinstance(r, dict)]
            if rows:
                self._write(rows)
            missed = [r for r in batch if isinstance(r, UnansweredRow)]
            if missed:
                self._write_unanswered(missed)
            for _ in batch:
                self._queue.task_done()
            if None in batch:
                return

    def _write(self, rows: list[dict[str, object]]) -> None:
        try:
            append_lookups(self.engine, rows, process_write_lock(self.engine))
        except Exception:
            log.exception("could not log %d look-up(s)", len(rows))

    def _write_unanswered(self, rows: list[UnansweredRow]) -> None:
        try:
            record_unanswered(self.engine, rows, process_write_lock(self.engine))
            now = time.monotonic()
            if now - self._pruned_at >= PRUNE_EVERY_SECONDS:
                self._pruned_at = now
                keep = dt.timedelta(days=self.settings.unanswered_retention_days)
                prune_unanswered(self.engine, older_than=dt.datetime.now(dt.UTC) - keep)
        except Exception:
            log.exception("could not log %d unanswered question(s)", len(rows))

    def flush(self) -> None:
        self._queue.join()

    def close(self) -> None:
        if self._writer.is_alive():
            self._closing.set()
            self._queue.put(None)
            self._writer.join(timeout=10)
