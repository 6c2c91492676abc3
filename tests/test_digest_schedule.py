"""Due times in IANA zones across daylight-saving changes, and the catch-up rule."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.digest.clock import FixedClock, parse_instant
from bot.digest.schedule import (
    ScheduleError,
    due_instant,
    next_due,
    parse_local_time,
    plan,
    resolve_zone,
)

UTC = dt.UTC
WINDOW = dt.timedelta(minutes=180)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


# Europe/Paris: CET (+1) → CEST (+2) on 29 Mar 2026, back on 25 Oct 2026.
# America/New_York: EST (-5) → EDT (-4) on 8 Mar 2026, back on 1 Nov 2026.
@pytest.mark.parametrize(
    ("zone", "day", "expected"),
    [
        ("Europe/Paris", dt.date(2026, 3, 28), utc(2026, 3, 28, 8, 0)),  # CET
        ("Europe/Paris", dt.date(2026, 3, 29), utc(2026, 3, 29, 7, 0)),  # CEST from this day
        ("Europe/Paris", dt.date(2026, 10, 24), utc(2026, 10, 24, 7, 0)),
        ("Europe/Paris", dt.date(2026, 10, 25), utc(2026, 10, 25, 8, 0)),
        ("America/New_York", dt.date(2026, 3, 7), utc(2026, 3, 7, 14, 0)),  # EST
        ("America/New_York", dt.date(2026, 3, 8), utc(2026, 3, 8, 13, 0)),  # EDT
        ("America/New_York", dt.date(2026, 10, 31), utc(2026, 10, 31, 13, 0)),
        ("America/New_York", dt.date(2026, 11, 1), utc(2026, 11, 1, 14, 0)),
    ],
)
def test_nine_oclock_local_follows_daylight_saving(zone: str, day: dt.date, expected: dt.datetime) -> None:
    assert due_instant(day, "09:00", zone) == expected


def test_a_time_in_the_spring_forward_gap_is_sent_once_after_the_jump() -> None:
    # 02:30 does not exist in New York on 8 Mar 2026: 07:30Z is 03:30 EDT.
    assert due_instant(dt.date(2026, 3, 8), "02:30", "America/New_York") == utc(2026, 3, 8, 7, 30)
    sent_on = [
        plan("02:30", "America/New_York", utc(2026, 3, 8, h, m), WINDOW).send
        for h, m in [(6, 59), (7, 30), (8, 0)]
    ]
    assert sent_on[0] is None
    assert {d.local_date for d in sent_on[1:] if d} == {dt.date(2026, 3, 8)}


def test_a_time_in_the_fall_back_overlap_is_due_at_its_first_occurrence() -> None:
    # 01:30 happens twice in New York on 1 Nov 2026: 05:30Z (EDT) and 06:30Z (EST).
    assert due_instant(dt.date(2026, 11, 1), "01:30", "America/New_York") == utc(2026, 11, 1, 5, 30)
    # Both passes in the overlap name the same digest: the unique claim makes the second a no-op.
    first = plan("01:30", "America/New_York", utc(2026, 11, 1, 5, 31), WINDOW).send
    second = plan("01:30", "America/New_York", utc(2026, 11, 1, 6, 31), WINDOW).send
    assert first == second and first is not None and first.due_at == utc(2026, 11, 1, 5, 30)


def test_each_day_is_due_once_across_the_dst_change_when_polling() -> None:
    for zone in ("Europe/Paris", "America/New_York"):
        clock = FixedClock(utc(2026, 3, 6, 0, 0))
        sent: set[dt.date] = set()
        while clock.now() < utc(2026, 3, 31):
            p = plan("09:00", zone, clock.now(), dt.timedelta(minutes=5))
            if p.send:
                sent.add(p.send.local_date)
                assert p.send.lateness(clock.now()) < dt.timedelta(minutes=5)
            clock.advance(minutes=5)
        assert sent == {dt.date(2026, 3, 6) + dt.timedelta(days=i) for i in range(25)}


def test_not_due_before_its_time() -> None:
    assert (
        plan("09:00", "Europe/Paris", utc(2026, 11, 28, 7, 59), WINDOW, not_before=utc(2026, 11, 28)).send
        is None
    )


def test_missed_by_less_than_the_window_is_sent_late() -> None:
    p = plan("09:00", "Europe/Paris", utc(2026, 11, 28, 10, 59), WINDOW, not_before=utc(2026, 11, 1))
    assert p.send is not None and p.send.local_date == dt.date(2026, 11, 28)
    assert p.send.lateness(utc(2026, 11, 28, 10, 59)) == dt.timedelta(minutes=179)


def test_missed_by_the_window_or_more_is_skipped_not_sent() -> None:
    now = utc(2026, 11, 28, 11, 0)  # exactly 180 min after 08:00Z
    p = plan("09:00", "Europe/Paris", now, WINDOW, not_before=utc(2026, 11, 1))
    assert p.send is None
    assert dt.date(2026, 11, 28) in {d.local_date for d in p.skip}


def test_after_a_long_outage_only_the_newest_day_inside_the_window_is_sent() -> None:
    # A 36-hour window after two days down: yesterday and today are both inside it.
    now = utc(2026, 11, 28, 9, 0)
    p = plan("09:00", "UTC", now, dt.timedelta(hours=36), not_before=utc(2026, 11, 1))
    assert p.send is not None and p.send.local_date == dt.date(2026, 11, 28)
    assert dt.date(2026, 11, 27) in {d.local_date for d in p.skip}


def test_nothing_is_owed_from_before_the_subscription() -> None:
    p = plan("09:00", "UTC", utc(2026, 11, 28, 9, 30), WINDOW, not_before=utc(2026, 11, 28, 9, 15))
    assert p.send is None and p.skip == ()


def test_local_date_is_the_subscribers_date_not_utcs() -> None:
    # 23:30 in Los Angeles on 27 Nov is 07:30Z on 28 Nov.
    p = plan("23:30", "America/Los_Angeles", utc(2026, 11, 28, 7, 31), WINDOW, not_before=utc(2026, 11, 1))
    assert p.send is not None and p.send.local_date == dt.date(2026, 11, 27)


def test_next_due_crosses_into_tomorrow() -> None:
    assert next_due("09:00", "Europe/Paris", utc(2026, 11, 28, 8, 0)) == utc(2026, 11, 29, 8, 0)
    assert next_due("09:00", "Europe/Paris", utc(2026, 11, 28, 7, 59)) == utc(2026, 11, 28, 8, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("9:00", "09:00"), ("09:30", "09:30"), ("21:05", "21:05"), ("9am", "09:00"), ("9:30 pm", "21:30"),
     ("12am", "00:00"), ("12pm", "12:00")],
)  # fmt: skip
def test_times_of_day_in_common_spellings(text: str, expected: str) -> None:
    assert parse_local_time(text) == expected


@pytest.mark.parametrize("text", ["24:00", "9:60", "13pm", "nine", "9", "", "<!channel>"])
def test_bad_times_are_refused_with_the_reason(text: str) -> None:
    with pytest.raises(ScheduleError, match="not a time of day") as err:
        parse_local_time(text)
    assert "<!" not in str(err.value)


def test_zone_names_are_matched_without_case_and_typos_get_suggestions() -> None:
    assert resolve_zone("europe/paris") == "Europe/Paris"
    with pytest.raises(ScheduleError, match="Did you mean Europe/Paris"):
        resolve_zone("Europe/Pariss")


@pytest.mark.parametrize("text", ["../../etc/passwd", "/etc/localtime", "Mars/Olympus", "x" * 500])
def test_only_tz_database_names_are_zones(text: str) -> None:
    with pytest.raises(ScheduleError):
        resolve_zone(text)


def test_now_must_carry_an_offset() -> None:
    assert parse_instant("2026-11-28T09:01:00Z") == utc(2026, 11, 28, 9, 1)
    with pytest.raises(ValueError, match="offset"):
        parse_instant("2026-11-28T09:01:00")
