"""``/attack digest ...``: subscriptions managed from Slack, with defaults and clear errors."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block
from sqlalchemy import Engine

from bot.answer import Payload
from bot.config import Settings
from bot.digest.clock import FixedClock
from bot.digest.commands import handle_digest_command
from bot.digest.subscriptions import describe_subscription
from bot.errors import UserFacingError
from bot.render.errors import error_payload
from store.db import session_scope
from store.state.scope import StateReads
from store.state.subscriptions import get
from tests.digest_support import TEAM, module_database, reset, settings

NOW = dt.datetime(2026, 11, 28, 7, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def module_db(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    yield from module_database(backend, tmp_path_factory)


@pytest.fixture
def db(module_db: Engine) -> Engine:
    return reset(module_db)


def run(
    engine: Engine,
    text: str,
    *,
    channel: str = "C1",
    user_tz: str | None = "Europe/Paris",
    cfg: Settings | None = None,
) -> Payload:
    payload = handle_digest_command(
        engine,
        cfg or settings(),
        team_id=TEAM,
        channel_id=channel,
        user_id="U1",
        text=text,
        user_tz=user_tz,
        clock=FixedClock(NOW),
    )
    for block in payload.blocks:  # every reply is valid Block Kit
        assert Block.parse(block) is not None and Block.parse(block).to_dict() == block  # type: ignore[union-attr]
    return payload


def everything(payload: Payload) -> str:
    return payload.text + json.dumps(payload.blocks, ensure_ascii=False)


def test_subscribe_without_arguments_uses_nine_in_the_users_zone_and_configured_frameworks(
    db: Engine,
) -> None:
    out = run(db, "subscribe")
    assert "09:00" in out.text and "Europe/Paris" in out.text
    with session_scope(db) as s:
        sub = get(s, TEAM, "C1")
        assert sub is not None
        assert (sub.time_local, sub.timezone, sub.frameworks, sub.watch) == (
            "09:00",
            "Europe/Paris",
            ["nist_800_53", "m365"],
            [],
        )
        assert sub.post_when_quiet and sub.active


def test_a_configured_zone_beats_the_users(db: Engine) -> None:
    run(db, "subscribe", cfg=settings(digest_timezone="Asia/Tokyo", digest_time="08:15"))
    with session_scope(db) as s:
        sub = get(s, TEAM, "C1")
        assert sub is not None and (sub.time_local, sub.timezone) == ("08:15", "Asia/Tokyo")


def test_without_any_zone_the_default_is_utc(db: Engine) -> None:
    run(db, "subscribe", user_tz=None)
    with session_scope(db) as s:
        sub = get(s, TEAM, "C1")
        assert sub is not None and sub.timezone == "UTC"


def test_subscribe_with_every_option(db: Engine) -> None:
    out = run(
        db, "digest subscribe 7:30pm tz america/new_york frameworks aws azure kev watch t1048 T1566 quiet"
    )
    with session_scope(db) as s:
        sub = get(s, TEAM, "C1")
        assert sub is not None
        assert sub.time_local == "19:30" and sub.timezone == "America/New_York"
        assert sub.frameworks == ["aws", "azure", "kev"]
        assert sub.watch == ["T1048", "T1566"]
        assert not sub.post_when_quiet
    assert "19:30" in out.text and "T1048" in out.text


def test_subscribing_again_changes_only_what_is_named(db: Engine) -> None:
    run(db, "subscribe 08:00 watch T1048 quiet")
    run(db, "subscribe 10:00")
    with session_scope(db) as s:
        sub = get(s, TEAM, "C1")
        assert sub is not None
        assert sub.time_local == "10:00" and sub.watch == ["T1048"] and not sub.post_when_quiet
    run(db, "subscribe watch none always")
    with session_scope(db) as s:
        sub = get(s, TEAM, "C1")
        assert sub is not None and sub.watch == [] and sub.post_when_quiet


def test_revoked_techniques_are_watched_through_their_replacement(db: Engine) -> None:
    out = run(db, "subscribe watch T1085 T1218.011")
    with session_scope(db) as s:
        sub = get(s, TEAM, "C1")
        assert sub is not None and sub.watch == ["T1218.011"]
    assert "T1085 was revoked" in everything(out)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("subscribe 25:00", "not a time of day"),
        ("subscribe tz Europe/Pariss", "Did you mean Europe/Paris"),
        ("subscribe tz", "needs a time zone"),
        ("subscribe frameworks nist4", "not a framework"),
        ("subscribe watch T9999", "Not ATT&amp;CK techniques: T9999"),
        ("subscribe watch phishing", "Not ATT&amp;CK techniques, groups or software: phishing"),
        ("subscribe 09:00 10:00", "one time of day"),
        ("frobnicate", "not a digest command"),
        ("subscribe banana", "don't understand"),
    ],
)
def test_mistakes_get_a_clear_error_and_change_nothing(db: Engine, text: str, needle: str) -> None:
    out = run(db, text)
    assert needle in everything(out)
    assert ":warning:" in json.dumps(out.blocks)
    with session_scope(db) as s:
        assert get(s, TEAM, "C1") is None


def test_echoed_text_is_escaped(db: Engine) -> None:
    out = run(db, "subscribe <!channel> <@U123> <http://evil|ok>")
    text = everything(out)
    assert "<!channel>" not in text and "<@U123>" not in text and "<http://evil" not in text
    assert "&lt;!channel&gt;" in text


def test_unsubscribe_stops_the_digest_and_resubscribing_starts_fresh(db: Engine) -> None:
    run(db, "subscribe 08:00 watch T1048")
    assert "no longer" in run(db, "unsubscribe").text
    assert "has no digest" in run(db, "unsubscribe").text
    with session_scope(db) as s:
        assert describe_subscription(StateReads(s), TEAM, "C1") is None
    run(db, "subscribe")
    with session_scope(db) as s:
        sub = get(s, TEAM, "C1")
        assert sub is not None and sub.active and sub.watch == [] and sub.time_local == "09:00"


def test_list_shows_the_workspaces_subscriptions(db: Engine) -> None:
    assert "No channel" in run(db, "list").text
    run(db, "subscribe 08:00", channel="C1")
    run(db, "subscribe 17:00 tz UTC", channel="C2")
    out = run(db, "list", channel="C3")
    assert "<#C1>" in out.text and "<#C2>" in out.text and "17:00" in out.text
    assert "This channel is not subscribed" in everything(out)


def test_app_home_line_describes_the_channel_settings(db: Engine) -> None:
    run(db, "subscribe 08:00 tz Europe/Paris frameworks aws watch T1566")
    with session_scope(db) as s:
        line = describe_subscription(StateReads(s), TEAM, "C1")
    assert line is not None
    assert line.startswith("Daily digest at *08:00* Europe/Paris")
    assert "AWS" in line and "T1566" in line


def test_help_lists_every_subcommand(db: Engine) -> None:
    text = run(db, "help").text
    for word in ("subscribe", "unsubscribe", "list", "preview", "watch", "quiet", "tz"):
        assert word in text


def test_preview_of_an_unsubscribed_channel_uses_the_defaults(db: Engine) -> None:
    out = run(db, "preview")
    text = everything(out)
    assert "Technique of the day" in text or "technique of the day" in text
    assert "not subscribed" in text


def test_preview_shows_the_watch_list_coverage(db: Engine) -> None:
    run(db, "subscribe watch T1566")
    text = everything(run(db, "preview"))
    assert "Watch list" in text and "T1566" in text
    assert "Microsoft 365 07/18/2025: 2" in text  # two M365 mappings: protect partial, detect significant
    assert ":mag: 1 ●●● significant" in text  # detect, scored significant


_WORDS = st.sampled_from(
    ["09:00", "25:00", "9am", "12 pm", "tz", "timezone", "Europe/Paris", "../etc", "frameworks", "nist",
     "all", "watch", "T1048", "t1566.001", "none", "quiet", "always", "<!channel>", "`", "*", "&", "x/y"]
)  # fmt: skip


@settings_(max_examples=150, deadline=None)
@given(st.text(max_size=400) | st.lists(_WORDS | st.text(max_size=12), max_size=12).map(" ".join))
def test_any_subscribe_text_is_parsed_or_refused_cleanly(text: str) -> None:
    from bot.digest.commands import CommandError, _tokens, parse_subscribe
    from bot.digest.schedule import ScheduleError

    try:
        changes, _ = parse_subscribe(_tokens(text))
    except (CommandError, ScheduleError) as exc:
        assert "<!" not in str(exc) and "<@" not in str(exc)
        return
    if changes.time_local is not None:
        hour, minute = map(int, changes.time_local.split(":"))
        assert 0 <= hour < 24 and 0 <= minute < 60


def test_a_mistyped_digest_command_is_the_one_error_rendering(db: Engine) -> None:
    out = run(db, "frobnicate")
    hint = f"`{settings().command_name} digest help` lists the options."
    assert out == error_payload(
        UserFacingError("`frobnicate` is not a digest command.", mrkdwn=True, hint=hint)
    )
