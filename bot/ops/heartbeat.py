"""A long-running process's heartbeat: a row in the database every interval (``store.state.heartbeats``),
read by ``countermap health`` from anywhere that reaches the database.

Written from a daemon thread, so a process stuck on its main thread still beats: the beat says the
process is alive and can write to the database, and what it reports in ``detail`` (the data
version it serves, its last pass) says whether it is doing its job.  A failed write is logged once
until one succeeds again, never raised.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from store.db import Engine
from store.state.heartbeats import beat, forget

log = logging.getLogger(__name__)

DEFAULT_STALE_SECONDS = 120


def interval_for(stale_seconds: float) -> float:
    """Beat four times within the staleness limit: one lost write never makes a process stale."""
    return max(1.0, stale_seconds / 4)


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat:
    def __init__(
        self,
        engine: Engine,
        process: str,
        *,
        interval: float,
        detail: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.engine = engine
        self.process = process
        self.interval = interval
        self.detail = detail or dict
        self.instance = instance_name()
        self.started_at = dt.datetime.now(dt.UTC)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def beat_once(self) -> bool:
        try:
            beat(self.engine, self.process, self.instance, self.started_at, self.detail())
        except Exception as exc:
            if not self._failing:
                log.warning("could not write the %s heartbeat: %s: %s", self.process, exc.__class__.__name__,
                            str(exc).splitlines()[0][:200] if str(exc) else "")  # fmt: skip
            self._failing = True
            return False
        if self._failing:
            log.info("the %s heartbeat is written again", self.process)
        self._failing = False
        return True

    def start(self) -> Heartbeat:
        """Beat now and then every interval, from a thread of its own: a database that is slow to
        take the write (SQLite during an ingest) never holds up the process's start."""
        if self._thread is None:
            self.instance = instance_name()  # after a fork: this process's own
            name = f"cm-heartbeat-{self.process}"
            self._thread = threading.Thread(target=self._run, name=name, daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        self.beat_once()
        while not self._stop.wait(self.interval):
            self.beat_once()

    def stop(self) -> None:
        """A clean stop: the row goes, so a process that was meant to end is not reported stale."""

        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            forget(self.engine, self.process, self.instance)
        except Exception:
            log.debug("could not remove the %s heartbeat", self.process, exc_info=True)
