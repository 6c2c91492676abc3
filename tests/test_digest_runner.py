"""The clock process in-process, against the fake Slack Web API on 127.0.0.1, on both backends:
due digests posted once with their metadata tag, catch-up, faults, takeovers, thread replies."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import Engine, select

from bot.cli.wiring import digest_posters
from bot.config import Settings
from bot.digest.clock import FixedClock
from bot.digest.posting import EVENT_TYPE
from bot.digest.runner import DigestRunner, PassReport
from bot.render.limits import violations
from store.app_state import DigestRun
from store.db import session_scope, write_session
from store.state import subscriptions
from tests.digest_support import TEAM, lookup, module_database, reset, settings
from tests.fake_slack import FakeSlack

# Europe/Paris is UTC+1 in November: 09:00 local is 08:00Z.
DUE = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)
DAY = dt.date(2026, 11, 28)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(scope="module")
def module_db(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    yield from module_database(backend, tmp_path_factory)


@pytest.fixture
def db(module_db: Engine) -> Engine:
    return reset(module_db)


def cfg(slack: FakeSlack, **changes: Any) -> Settings:
    return settings(slack_api_url=slack.base_url, **changes)


def subscribe(
    engine: Engine,
    channel: str = "C1",
    *,
    time_local: str = "09:00",
    tz: str = "Europe/Paris",
    watch: tuple[str, ...] = (),
    quiet_posts: bool = True,
    since: dt.datetime = dt.datetime(2026, 11, 28, tzinfo=dt.UTC),
) -> int:
    with write_session(engine) as s:
        sub, _ = subscriptions.subscribe(
            s,
            team_id=TEAM,
            channel_id=channel,
            user_id="U1",
            changes=subscriptions.Changes(watch=watch, post_when_quiet=quiet_posts),
            defaults=subscriptions.Defaults(time_local, tz, ("nist_800_53", "m365")),
            now=since,
        )
        return sub.id


def runner(
    engine: Engine, slack: FakeSlack, at: dt.datetime, **changes: Any
) -> tuple[DigestRunner, FixedClock]:
    clock = FixedClock(at)
    config = cfg(slack, **changes)
    posters = digest_posters(engine, config, sleep=lambda _s: None)  # tests never sleep for backoff
    return DigestRunner(engine, config, clock=clock, instance="test", poster_factory=posters), clock


def runs(engine: Engine) -> list[DigestRun]:
    with session_scope(engine) as s:
        return list(s.scalars(select(DigestRun).order_by(DigestRun.id)))


def top_level(slack: FakeSlack, channel: str = "C1") -> list[dict[str, Any]]:
    return [m for m in slack.messages(channel) if "thread_ts" not in m]


def test_a_due_digest_is_posted_once_tagged_and_recorded(db: Engine, slack: FakeSlack) -> None:
    sub_id = subscribe(db)
    lookup(db, "C1", ["T1048"], DUE - dt.timedelta(hours=2))
    r, clock = runner(db, slack, DUE + dt.timedelta(minutes=1))
    assert r.run_once().sent == 1
    [message] = slack.messages("C1")
    meta = message["metadata"]
    assert meta["event_type"] == EVENT_TYPE
    [run] = runs(db)
    assert meta["event_payload"] == {
        "digest_id": run.id,
        "subscription_id": sub_id,
        "local_date": "2026-11-28",
        "part": 0,
    }
    assert (run.status, run.message_ts, run.local_date) == ("sent", message["ts"], DAY)
    assert violations({"text": message["text"], "blocks": message["blocks"]}) == []
    assert "T1048" in str(message["blocks"]) and "SC-07" in str(message["blocks"])
    clock.advance(minutes=30)
    assert r.run_once().sent == 0
    assert len(slack.messages("C1")) == 1


def test_nothing_is_posted_before_the_due_time(db: Engine, slack: FakeSlack) -> None:
    subscribe(db)
    r, _ = runner(db, slack, DUE - dt.timedelta(seconds=1))
    assert r.run_once().due == 0
    assert slack.calls_to("chat.postMessage") == []


def test_a_digest_missed_by_less_than_the_window_is_sent_once_late(db: Engine, slack: FakeSlack) -> None:
    subscribe(db)
    r, clock = runner(db, slack, DUE + dt.timedelta(minutes=179))
    assert r.run_once().sent == 1
    clock.advance(minutes=10)
    r.run_once()
    assert len(slack.messages("C1")) == 1


def test_an_older_miss_is_skipped_with_one_log_line(
    db: Engine, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    subscribe(db)
    r, clock = runner(db, slack, DUE + dt.timedelta(minutes=180))
    with caplog.at_level(logging.WARNING, logger="bot.digest.runner"):
        report = r.run_once()
        clock.advance(minutes=5)
        again = r.run_once()
    assert (report.sent, report.skipped_missed, again.skipped_missed) == (0, 1, 0)
    skipped = [rec for rec in caplog.records if "skipping the digest of 2026-11-28" in rec.getMessage()]
    assert len(skipped) == 1
    assert [(x.local_date, x.status) for x in runs(db)] == [(DAY, "skipped")]
    assert slack.calls_to("chat.postMessage") == []
    # The next day is on time again.
    clock.set(DUE + dt.timedelta(days=1, minutes=1))
    assert r.run_once().sent == 1


def test_after_an_outage_yesterday_is_skipped_and_today_sent(db: Engine, slack: FakeSlack) -> None:
    subscribe(db, since=dt.datetime(2026, 11, 20, tzinfo=dt.UTC))
    r, _ = runner(db, slack, DUE + dt.timedelta(days=1, minutes=30))
    report = r.run_once()
    assert (report.sent, report.skipped_missed) == (1, 1)
    assert sorted((x.local_date, x.status) for x in runs(db)) == [
        (DAY, "skipped"),
        (DAY + dt.timedelta(days=1), "sent"),
    ]


def test_a_429_is_retried_after_retry_after(db: Engine, slack: FakeSlack) -> None:
    subscribe(db)
    slack.fail_next("chat.postMessage", "429", retry_after=1)
    r, _ = runner(db, slack, DUE)
    assert r.run_once().sent == 1
    calls = slack.calls_to("chat.postMessage")
    assert [c.outcome for c in calls] == ["429", "ok"]
    assert calls[1].at - calls[0].at >= 1.0
    assert len(slack.messages("C1")) == 1


@pytest.mark.parametrize("fault", ["500", "drop"])
def test_a_5xx_or_lost_connection_is_retried_only_after_checking_the_channel(
    db: Engine, slack: FakeSlack, fault: str
) -> None:
    subscribe(db)
    slack.fail_next("chat.postMessage", fault)  # type: ignore[arg-type]
    r, _ = runner(db, slack, DUE)
    assert r.run_once().sent == 1
    methods = [c.method for c in slack.calls if c.method != "auth.test"]
    assert methods == ["chat.postMessage", "conversations.history", "chat.postMessage"]
    assert len(slack.messages("C1")) == 1
    assert runs(db)[0].status == "sent"


def test_a_post_whose_answer_was_lost_is_found_not_repeated(db: Engine, slack: FakeSlack) -> None:
    """Slack accepted the post but the claimer died before recording it: the stale claim is
    taken over and the tagged message in the channel is recorded instead of posting again."""
    sub_id = subscribe(db)
    r, clock = runner(db, slack, DUE)
    with write_session(db) as s:
        run = DigestRun(
            subscription_id=sub_id, local_date=DAY, due_at=DUE, status="claimed",
            claimed_by="dead-host:1", claimed_at=DUE, attempts=1,
        )  # fmt: skip
        s.add(run)
        s.flush()
        run_id = run.id
    posted = WebClient(token="xoxb-digest-test", base_url=slack.base_url).chat_postMessage(
        channel="C1",
        text="digest",
        metadata={
            "event_type": EVENT_TYPE,
            "event_payload": {
                "digest_id": run_id,
                "subscription_id": sub_id,
                "local_date": "2026-11-28",
                "part": 0,
            },
        },
    )
    clock.set(DUE + dt.timedelta(minutes=5))  # the claim is still fresh: its owner may be alive
    assert r.run_once().busy == 1
    clock.set(DUE + dt.timedelta(minutes=11))  # past the 10-minute claim timeout
    report = r.run_once()
    assert (report.recovered, report.sent) == (1, 0)
    assert len(slack.calls_to("chat.postMessage")) == 1  # the test's own post only
    [row] = runs(db)
    assert (row.status, row.message_ts, row.attempts) == ("sent", posted["ts"], 2)


def test_a_stale_claim_that_never_posted_is_posted_by_the_next_process(db: Engine, slack: FakeSlack) -> None:
    sub_id = subscribe(db)
    with write_session(db) as s:
        s.add(DigestRun(subscription_id=sub_id, local_date=DAY, due_at=DUE, status="claimed",
                        claimed_by="dead-host:1", claimed_at=DUE, attempts=1))  # fmt: skip
    r, _ = runner(db, slack, DUE + dt.timedelta(minutes=11))
    assert r.run_once().sent == 1
    assert len(slack.messages("C1")) == 1
    assert [c.method for c in slack.calls][:1] == ["conversations.history"]  # looked first


def test_a_quiet_day_is_one_line(db: Engine, slack: FakeSlack) -> None:
    subscribe(db)
    r, _ = runner(db, slack, DUE)
    r.run_once()
    [message] = slack.messages("C1")
    assert len(message["blocks"]) == 1 and "\n" not in message["blocks"][0]["text"]["text"]
    assert "Quiet day" in message["text"]
    assert violations({"text": message["text"], "blocks": message["blocks"]}) == []


def test_a_quiet_subscription_posts_nothing_on_a_quiet_day(db: Engine, slack: FakeSlack) -> None:
    subscribe(db, quiet_posts=False)
    r, _ = runner(db, slack, DUE)
    assert r.run_once().skipped_quiet == 1
    assert slack.calls_to("chat.postMessage") == []
    assert runs(db)[0].status == "skipped"


def test_a_quiet_subscription_still_posts_when_something_happened(db: Engine, slack: FakeSlack) -> None:
    subscribe(db, quiet_posts=False)
    lookup(db, "C1", ["T1566"], DUE - dt.timedelta(hours=1))
    r, _ = runner(db, slack, DUE)
    assert r.run_once().sent == 1


def test_a_permanent_slack_error_fails_that_digest_without_retrying(db: Engine, slack: FakeSlack) -> None:
    subscribe(db)
    slack.set_response("chat.postMessage", {"ok": False, "error": "not_in_channel"})
    r, clock = runner(db, slack, DUE)
    assert r.run_once().failed == 1
    clock.advance(minutes=60)
    r.run_once()
    assert len(slack.calls_to("chat.postMessage")) == 1
    [row] = runs(db)
    assert row.status == "failed" and row.error and "not_in_channel" in row.error


def test_a_transient_failure_is_retried_on_a_later_pass(db: Engine, slack: FakeSlack) -> None:
    subscribe(db)
    slack.fail_next("chat.postMessage", "500", times=4)  # more than the in-call retries
    r, clock = runner(db, slack, DUE)
    assert r.run_once().retry == 1
    assert runs(db)[0].status == "retry"
    clock.advance(seconds=30)
    assert r.run_once().due == 0  # backing off
    clock.advance(minutes=2)
    assert r.run_once().sent == 1
    assert len(slack.messages("C1")) == 1


def test_channel_activity_and_data_changes_make_the_content(db: Engine, slack: FakeSlack) -> None:
    subscribe(db)
    lookup(db, "C1", ["T1048", "T1566"], DUE - dt.timedelta(hours=3))
    lookup(db, "C1", ["T1048"], DUE - dt.timedelta(hours=1))
    lookup(db, "C2", ["T1190"], DUE - dt.timedelta(hours=1))  # another channel
    lookup(db, "C1", ["T1059"], DUE - dt.timedelta(hours=30))  # too old
    r, _ = runner(db, slack, DUE)
    r.run_once()
    [message] = slack.messages("C1")
    body = str(message["blocks"])
    assert "T1048" in body and "×2" in body and "T1566" in body
    assert "T1190" not in body.split("Technique of the day")[0]
    assert "Looked up here in the last 24 hours (2)" in body


def test_a_large_watch_list_goes_to_thread_replies_within_limits(db: Engine, slack: FakeSlack) -> None:
    from store.models import Technique

    ids = [f"T{9000 + i}" for i in range(400)]
    with write_session(db) as s:
        for i, tid in enumerate(ids):
            s.add(Technique(stix_id=f"attack-pattern--w{i}", domain="enterprise", attack_id=tid,
                            name=f"Synthetic & <technique> number {i} " + "x" * 40))  # fmt: skip
    subscribe(db, watch=tuple(ids))
    lookup(db, "C1", ids[:50], DUE - dt.timedelta(hours=1))
    r, _ = runner(db, slack, DUE)
    assert r.run_once().sent == 1
    messages = slack.messages("C1")
    main = [m for m in messages if "thread_ts" not in m]
    replies = [m for m in messages if "thread_ts" in m]
    assert len(main) == 1 and len(replies) >= 2
    assert {m["thread_ts"] for m in replies} == {main[0]["ts"]}
    assert [m["metadata"]["event_payload"]["part"] for m in replies] == list(range(1, len(replies) + 1))
    for m in messages:
        assert violations({"text": m["text"], "blocks": m["blocks"]}) == []
    shown = "".join(str(m["blocks"]) for m in replies)
    assert all(tid in shown for tid in ids)
    [row] = runs(db)
    assert row.status == "sent" and row.thread_parts_posted == len(replies)


def test_a_takeover_resumes_thread_replies_without_reposting(db: Engine, slack: FakeSlack) -> None:
    ids = ["T1048", "T1048.003", "T1566", "T1190", "T1059", "T1218.011", "T1085"]
    sub_id = subscribe(db, watch=tuple(ids))
    lookup(db, "C1", ["T1048"], DUE - dt.timedelta(hours=1))
    r, _ = runner(db, slack, DUE)
    with write_session(db) as s:
        s.add(DigestRun(subscription_id=sub_id, local_date=DAY, due_at=DUE, status="posted",
                        claimed_by="dead-host:1", claimed_at=DUE - dt.timedelta(minutes=11),
                        attempts=1, message_ts="1700000000.000001"))  # fmt: skip
    report: PassReport = r.run_once()
    assert report.sent == 1
    posts = slack.calls_to("chat.postMessage")
    assert [c.body.get("thread_ts") for c in posts] == ["1700000000.000001"]
    assert slack.calls_to("conversations.replies")  # checked the thread first


def test_each_workspace_is_posted_to_with_its_own_installation_token(db: Engine, slack: FakeSlack) -> None:
    from slack_sdk.oauth.installation_store import Installation

    from bot.slack.oauth import ensure_oauth_tables, installation_store

    config = cfg(slack, slack_bot_token=None, slack_client_id="111.222", slack_client_secret="shh")
    store = installation_store(config, db)
    ensure_oauth_tables([store], db)
    for team, token in (("T0TEAM001", "xoxb-team-one"), ("T0TEAM002", "xoxb-team-two")):
        store.save(
            Installation(
                app_id="A1", team_id=team, user_id="U1", bot_token=token, bot_id="B1", bot_user_id="UB"
            )
        )
    subscribe(db, "C1")
    with write_session(db) as s:
        for team, channel in (("T0TEAM002", "C2"), ("T0GONE", "C3")):
            subscriptions.subscribe(
                s, team_id=team, channel_id=channel, user_id="U1", changes=subscriptions.Changes(),
                defaults=subscriptions.Defaults("09:00", "Europe/Paris", ("nist_800_53",)),
                now=dt.datetime(2026, 11, 28, tzinfo=dt.UTC),
            )  # fmt: skip
    posters = digest_posters(db, config)
    r = DigestRunner(db, config, clock=FixedClock(DUE), instance="test", poster_factory=posters)
    report = r.run_once()
    assert (report.sent, report.failed) == (2, 1)
    tokens = {c.body["channel"]: c.token for c in slack.calls_to("chat.postMessage")}
    assert tokens == {"C1": "xoxb-team-one", "C2": "xoxb-team-two"}
    failed = [x for x in runs(db) if x.status == "failed"]
    assert len(failed) == 1 and failed[0].error and "T0GONE" in failed[0].error


def test_a_subscription_with_an_unusable_schedule_does_not_stop_the_others(
    db: Engine, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    subscribe(db, "C1")
    bad = subscribe(db, "C2")
    with write_session(db) as s:
        row = s.get(subscriptions.DigestSubscription, bad)
        assert row is not None
        row.timezone = "Mars/Olympus_Mons"
    r, clock = runner(db, slack, DUE)
    with caplog.at_level(logging.ERROR, logger="bot.digest.runner"):
        assert r.run_once().sent == 1
        clock.advance(minutes=1)
        r.run_once()
    assert [m["channel"] for m in slack.messages("C1")] == ["C1"] and slack.messages("C2") == []
    assert len([x for x in caplog.records if "unusable schedule" in x.getMessage()]) == 1


def test_data_changes_since_the_last_digest_are_reported_to_channels_that_follow_them(
    db: Engine, slack: FakeSlack
) -> None:
    from sqlalchemy import update

    from store.models import Capability, Release

    subscribe(db, "C1")  # NIST 800-53 and M365
    with write_session(db) as s:
        subscriptions.subscribe(
            s, team_id=TEAM, channel_id="C2", user_id="U1",
            changes=subscriptions.Changes(frameworks=("aws",)),
            defaults=subscriptions.Defaults("09:00", "Europe/Paris", ("nist_800_53",)),
            now=dt.datetime(2026, 11, 28, tzinfo=dt.UTC),
        )  # fmt: skip
        s.execute(
            update(Release).where(Release.framework == "m365").values(loaded_at=DUE - dt.timedelta(hours=2))
        )
    r, clock = runner(db, slack, DUE)
    r.run_once()
    [c1] = slack.messages("C1")
    [c2] = slack.messages("C2")
    assert "1 mapping release loaded" in str(c1["blocks"]) and "Microsoft 365 07/18/2025" in str(c1["blocks"])
    assert "Quiet day" in c2["text"]  # the M365 reload is no news to an AWS channel

    # Next day: a new KEV CVE is news everywhere, with its technique; the reload is old news.
    with write_session(db) as s:
        s.execute(update(Capability).values(first_seen_at=DUE + dt.timedelta(hours=20)))
    clock.set(DUE + dt.timedelta(days=1))
    r.run_once()
    for channel in ("C1", "C2"):
        latest = slack.messages(channel)[-1]
        body = str(latest["blocks"])
        assert "1 new CISA KEV CVE" in body and "CVE-2023-34362" in body and "T1190" in body
        assert "mapping release" not in body
