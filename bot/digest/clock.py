"""Injectable time, so tests and ``--now`` move the clock instead of sleeping for the schedule."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware (UTC)."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class OffsetClock:
    """Real time shifted so that it read ``start`` when created: ``digest run --now`` without
    ``--once`` keeps ticking from the given instant."""

    def __init__(self, start: dt.datetime) -> None:
        self._start = as_utc(start)
        self._t0 = time.monotonic()

    def now(self) -> dt.datetime:
        return self._start + dt.timedelta(seconds=time.monotonic() - self._t0)


class FixedClock:
    """A clock that only moves when told to; thread-safe."""

    def __init__(self, instant: dt.datetime) -> None:
        self._now = as_utc(instant)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def set(self, instant: dt.datetime) -> None:
        with self._lock:
            self._now = as_utc(instant)

    def advance(self, **delta: float) -> dt.datetime:
        with self._lock:
            self._now += dt.timedelta(**delta)
            return self._now


def as_utc(value: dt.datetime) -> dt.datetime:
    """Aware UTC; a naive value is taken to be UTC already (SQLite returns naive datetimes)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def parse_instant(text: str) -> dt.datetime:
    """ISO 8601 with an offset (``2026-11-28T09:01:00+00:00``, ``...Z``); a naive value is
    refused because guessing the zone of an operator's ``--now`` is how digests go out twice."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 date and time: {text!r}") from exc
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset; add one, e.g. {text}+00:00")
    return value.astimezone(dt.UTC)
