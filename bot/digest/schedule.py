"""When is a digest due: local wall-clock time in an IANA zone, across DST, with catch-up.

A digest is identified by (subscription, local date).  Its due instant is the subscription's
``HH:MM`` on that date in its zone:

- in a spring-forward gap (02:30 on the night clocks jump 02:00 → 03:00) the time does not exist;
  PEP 495 reads it with the offset before the jump, so the digest goes out at 03:30 — the same
  time after local midnight as on any other day, and still exactly once that date;
- in a fall-back overlap (01:30 happens twice) the first occurrence counts (``fold=0``); the
  unique (subscription, local date) claim makes the second a no-op.

A digest that the clock process missed by less than the catch-up window is sent once, late; an
older one is skipped (recorded, so it is logged once).  When several dates are inside the window
only the newest is sent: two digests in a row after an outage help nobody.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from rapidfuzz import process

from bot.digest.clock import as_utc
from bot.render.mrkdwn import esc


def _esc(text: str) -> str:
    return esc(text)


class ScheduleError(ValueError):
    """A time or time zone a user typed is not usable; the message says why, for Slack."""


_TIME = re.compile(r"^(?P<h>\d{1,2})(?::(?P<m>\d{2}))?\s*(?P<ampm>[ap]\.?m\.?)?$", re.IGNORECASE)


def parse_local_time(text: str) -> str:
    """``9:30``, ``09:30``, ``21:00``, ``9am``, ``9:30 pm`` → ``"HH:MM"`` (24-hour)."""
    raw = text.strip()
    match = _TIME.match(raw)
    if not match or (match["m"] is None and match["ampm"] is None):
        raise ScheduleError(f"`{_esc(raw[:40])}` is not a time of day: use HH:MM, e.g. 09:00 or 17:30")
    hour, minute = int(match["h"]), int(match["m"] or 0)
    if match["ampm"]:
        if not 1 <= hour <= 12:
            raise ScheduleError(f"`{_esc(raw[:40])}` is not a time of day: with am/pm the hour is 1 to 12")
        hour = hour % 12 + (12 if match["ampm"].lower().startswith("p") else 0)
    if hour > 23 or minute > 59:
        raise ScheduleError(f"`{_esc(raw[:40])}` is not a time of day: hours go 00–23 and minutes 00–59")
    return f"{hour:02d}:{minute:02d}"


@lru_cache(maxsize=1)
def _zones_by_lower() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones() if not name.startswith(("posix/", "right/"))}


def resolve_zone(text: str) -> str:
    """The canonical IANA name for ``text`` (case-insensitive), or a ScheduleError with the
    closest names.  Only names from the tz database are accepted, never file paths."""
    raw = text.strip()
    zones = _zones_by_lower()
    name = zones.get(raw.lower()) if len(raw) <= 64 else None
    if name is None:
        close = [m[0] for m in process.extract(raw[:64], list(zones.values()), limit=3, score_cutoff=70)]
        hint = f" Did you mean {', '.join(close)}?" if close else " Use an IANA name such as Europe/Paris."
        raise ScheduleError(f"`{_esc(raw[:64])}` is not a time zone I know.{hint}")
    return name


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"`{_esc(name[:64])}` is not a time zone I know") from exc


def _hm(time_local: str) -> tuple[int, int]:
    hour, minute = time_local.split(":")
    return int(hour), int(minute)


def due_instant(local_date: dt.date, time_local: str, zone_name: str) -> dt.datetime:
    """The UTC instant the digest of ``local_date`` is due (see the module docstring for DST)."""
    hour, minute = _hm(time_local)
    local = dt.datetime.combine(local_date, dt.time(hour, minute), tzinfo=zone(zone_name))
    return local.astimezone(dt.UTC)


def local_date_of(instant: dt.datetime, zone_name: str) -> dt.date:
    return as_utc(instant).astimezone(zone(zone_name)).date()


@dataclass(frozen=True)
class Due:
    local_date: dt.date
    due_at: dt.datetime  # UTC

    def lateness(self, now: dt.datetime) -> dt.timedelta:
        return as_utc(now) - self.due_at


@dataclass(frozen=True)
class Plan:
    """What one pass should do for one subscription."""

    send: Due | None
    skip: tuple[Due, ...]  # past their chance: record as skipped, log once


def plan(
    time_local: str,
    zone_name: str,
    now: dt.datetime,
    catch_up: dt.timedelta,
    *,
    not_before: dt.datetime | None = None,
) -> Plan:
    """Digests of this schedule that are due at ``now``.

    Dates are considered back to one day before the catch-up window, so that the digest missed
    by an outage is logged (once) as skipped; digests due before ``not_before`` (the
    subscription's creation) were never owed.
    """
    now = as_utc(now)
    first = local_date_of(now - catch_up - dt.timedelta(days=1), zone_name)
    last = local_date_of(now, zone_name)
    floor = as_utc(not_before) if not_before is not None else None
    owed: list[Due] = []
    day = first
    while day <= last:
        due_at = due_instant(day, time_local, zone_name)
        if due_at <= now and (floor is None or due_at >= floor):
            owed.append(Due(day, due_at))
        day += dt.timedelta(days=1)
    in_window = [d for d in owed if d.lateness(now) < catch_up]
    send = in_window[-1] if in_window else None
    return Plan(send=send, skip=tuple(d for d in owed if d is not send))


def next_due(time_local: str, zone_name: str, now: dt.datetime) -> dt.datetime:
    """The first due instant strictly after ``now`` (for confirmations and App Home)."""
    day = local_date_of(now, zone_name) - dt.timedelta(days=1)
    while True:
        due_at = due_instant(day, time_local, zone_name)
        if due_at > as_utc(now):
            return due_at
        day += dt.timedelta(days=1)
