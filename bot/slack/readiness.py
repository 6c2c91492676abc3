"""When an answer may run on the request thread, and a background refresher that keeps it so.

Handing work to another thread costs a GIL round trip per request, which is most of a
cached answer's cost under load.  A warm Answerer answers in well under a millisecond; what can
take seconds is rebuilding its resolver index after the data changed (``countermap sync``), and
while that runs every answer waits for it.  So this refresher does the Answerer's staleness
checks itself, every ``interval`` seconds off the request path, and raises ``rebuilding`` a moment
before it starts a rebuild: requests that see the flag (or a cold Answerer) use the answer pool
with the ack budget instead, and the 3-second ack holds either way.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from store.reads.scope import reads
from store.state.health import database_problem, has_mapping_data

log = logging.getLogger(__name__)

CHECK_SECONDS = 2.0  # below the Answerer's own 5 s staleness check, so requests never run it
GRACE_SECONDS = 0.05  # let answers already inline finish before the rebuild takes the lock


class Readiness:
    def __init__(self, answerer: Any, *, interval: float = CHECK_SECONDS) -> None:
        self.answerer = answerer
        self.interval = interval
        self.rebuilding = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Only the real Answerer can be judged; anything else always goes through the pool.
        self.judgeable = hasattr(answerer, "refresh_if_stale") and hasattr(answerer, "data_version")

    def inline_ok(self) -> bool:
        return self.judgeable and not self.rebuilding and self.answerer.data_version is not None

    def start(self, *, first_check_after: float = 0.0) -> None:
        if self.judgeable and self._thread is None:
            self._thread = threading.Thread(
                target=self._run, args=(first_check_after,), name="cm-answer-refresh", daemon=True
            )
            self._thread.start()

    def stop(self, *, wait: bool = False) -> None:
        self._stop.set()
        if wait and self._thread is not None:
            self._thread.join(timeout=60)

    def restart(self) -> None:
        """Start again in a forked process (the thread, its event and the flag are the parent's).
        The parent has just checked: the first check waits an interval, leaving the new worker's
        first requests the whole interpreter."""
        self._stop, self._thread, self.rebuilding = threading.Event(), None, False
        self.start(first_check_after=self.interval)

    def _run(self, first_check_after: float = 0.0) -> None:
        if first_check_after and self._stop.wait(first_check_after):
            return
        while True:
            try:
                self.check()
            except Exception:
                log.exception("checking the loaded data for changes failed; retrying")
            if self._stop.wait(self.interval):
                return

    def check(self) -> None:
        """Rebuild if the data changed (flagged, so requests avoid the wait), else just refresh the
        Answerer's "checked" time."""
        if self.answerer.data_version is not None and not self._changed():
            self.answerer.refresh_if_stale()  # a version query under its lock: keeps it fresh
            return
        self.rebuilding = True
        try:
            time.sleep(GRACE_SECONDS)
            self.answerer.refresh_if_stale()
        finally:
            self.rebuilding = False

    def _changed(self) -> bool:
        with reads(self.answerer.engine) as data:
            return bool(data.data_version() != self.answerer.data_version)


def ready_checks(engine: Any, answerer: Any) -> dict[str, str]:
    """What ``/readyz`` reports, each check ``"ok"`` or what is wrong: the database answers (and,
    on SQLite, is still the file the server opened), data is loaded, the resolver index is built."""

    problem = database_problem(engine)
    checks = {"database": problem or "ok"}
    if problem:
        checks["data"] = "unknown: the database cannot say"
    else:
        try:
            loaded = has_mapping_data(engine)
        except Exception as exc:
            loaded, checks["database"] = False, f"unreadable ({exc.__class__.__name__})"
        checks["data"] = "ok" if loaded else "no data loaded (run `countermap sync` or `countermap ingest`)"
    if answerer is not None and hasattr(answerer, "data_version"):
        checks["index"] = "ok" if answerer.data_version is not None else "not built yet"
    return checks
