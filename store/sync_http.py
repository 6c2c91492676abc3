"""The bounds every sync download lives within: one deadline for the whole run, a cap on how
long a server may ask us to wait, and a minimum transfer rate.

Without them a ``429 Retry-After: 100000`` waited 300 s per retry per file and a 2 KB/s drip
was never cut off, so a cron-driven sync could hang for hours holding a temporary folder.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

__all__ = ["Budget", "SyncFailure", "guarded_chunks", "read_limited"]


class SyncFailure(Exception):
    """One file or listing could not be fetched; the message says why."""


@dataclass
class Budget:
    """Time and rate limits shared by every request of one sync run."""

    seconds: float = 1800.0  # the whole run
    timeout_s: float = 30.0  # one network operation
    retry_after_cap: float = 60.0  # longest Retry-After / rate-limit reset worth waiting for
    min_rate: float = 2048.0  # bytes per second, averaged from the start of a body
    rate_grace: float = 10.0  # seconds before the rate is judged
    started: float = field(default_factory=time.monotonic)

    @property
    def deadline(self) -> float:
        return self.started + self.seconds

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def check(self, what: str = "") -> None:
        if self.remaining() <= 0:
            where = f" ({what})" if what else ""
            raise SyncFailure(f"the run's deadline of {self.seconds:g} s passed{where}")

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(max(0.1, min(self.timeout_s, self.remaining())))

    def may_wait(self, seconds: float) -> bool:
        return seconds <= self.retry_after_cap and seconds < self.remaining()


def guarded_chunks(response: httpx.Response, max_bytes: int, budget: Budget, raw: bool) -> Iterator[bytes]:
    """The body in chunks, cut off past ``max_bytes``, the deadline or below the minimum rate."""
    started = time.monotonic()
    size = 0
    # No chunk size: httpx would buffer to it, and a slow drip would never be looked at.
    chunks = response.iter_raw() if raw else response.iter_bytes()
    for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise SyncFailure(f"more than {max_bytes:,} bytes")
        now = time.monotonic()
        if now > budget.deadline:
            raise SyncFailure(f"the run's deadline of {budget.seconds:g} s passed mid-download")
        elapsed = now - started
        if elapsed > budget.rate_grace and size / elapsed < budget.min_rate:
            raise SyncFailure(
                f"too slow: {size / elapsed:,.0f} bytes/s, under the minimum of {budget.min_rate:,.0f}"
            )
        yield chunk


def read_limited(response: httpx.Response, max_bytes: int, budget: Budget) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise SyncFailure(f"{int(declared):,} bytes is over the {max_bytes:,}-byte limit")
    return b"".join(guarded_chunks(response, max_bytes, budget, raw=False))
