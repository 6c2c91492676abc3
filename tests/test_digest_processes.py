"""Real ``countermap digest run`` processes against the fake Slack on 127.0.0.1: two racing
on one database post every due digest exactly once; one SIGKILLed between Slack accepting a
post and recording it leaves, after a restart, no duplicate and no loss.  Both backends."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from bot.digest.runner import DIE_AFTER_POST_ENV
from store.app_state import DigestRun
from store.db import session_scope, write_session
from store.state import subscriptions
from store.state.heartbeats import heartbeats
from tests.digest_support import TEAM, lookup, seed
from tests.fake_slack import FakeSlack

COUNTERMAP = str(Path(sys.executable).parent / "countermap")
NOW = dt.datetime(2026, 11, 28, 9, 1, tzinfo=dt.UTC)
ZONES = ["UTC", "Europe/Paris", "Europe/London", "America/New_York", "Asia/Tokyo"]


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def subscribe_many(engine: Engine, n: int) -> list[str]:
    """``n`` channels whose digests are all due (inside the catch-up window) at ``NOW``."""
    seed(engine)
    channels = []
    with write_session(engine) as s:
        for i in range(n):
            zone = ZONES[i % len(ZONES)]
            local = NOW.astimezone(__import__("zoneinfo").ZoneInfo(zone)) - dt.timedelta(minutes=1 + i % 90)
            channel = f"C{i:04d}"
            channels.append(channel)
            subscriptions.subscribe(
                s,
                team_id=TEAM,
                channel_id=channel,
                user_id="U1",
                changes=subscriptions.Changes(watch=("T1048", "T1566") if i % 3 == 0 else ()),
                defaults=subscriptions.Defaults(f"{local:%H:%M}", zone, ("nist_800_53", "m365")),
                now=NOW - dt.timedelta(hours=3),
            )
    for channel in channels[::4]:
        lookup(engine, channel, ["T1048", "T1190"], NOW - dt.timedelta(hours=2))
    return channels


def env_for(slack: FakeSlack, tmp_path: Path, **extra: str) -> dict[str, str]:
    config = tmp_path / "countermap.yaml"
    config.write_text("digest_poll_seconds: 1\ndigest_claim_timeout_seconds: 600\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL", "COUNTERMAP_"))}
    env.update(
        SLACK_API_URL=slack.base_url,
        SLACK_BOT_TOKEN="xoxb-digest-process-test",
        COUNTERMAP_CONFIG=str(config),
        **extra,
    )
    return env


def top_level_counts(slack: FakeSlack, channels: list[str]) -> Counter[str]:
    return Counter({c: sum(1 for m in slack.messages(c) if "thread_ts" not in m) for c in channels})


def statuses(engine: Engine) -> Counter[str]:
    with session_scope(engine) as s:
        return Counter(s.scalars(select(DigestRun.status)))


def test_two_looping_processes_post_every_digest_exactly_once(
    engine: Engine, database_url: str, slack: FakeSlack, tmp_path: Path
) -> None:
    channels = subscribe_many(engine, 60)
    env = env_for(slack, tmp_path)
    cmd = [COUNTERMAP, "--db", database_url, "digest", "run", "--now", NOW.isoformat()]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and statuses(engine)["sent"] < len(channels):
            assert all(p.poll() is None for p in procs), "a digest process exited early"
            time.sleep(0.2)
        time.sleep(1.5)  # one more poll each: nothing left to post
        clocks = {b.instance for b in heartbeats(engine) if b.process == "clock"}  # each beats its passes
        assert {f":{p.pid}" for p in procs} == {i[i.rindex(":") :] for i in clocks}
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        outputs = [p.communicate(timeout=30) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outputs]
    assert [b for b in heartbeats(engine) if b.process == "clock"] == []  # a clean stop leaves no row
    counts = top_level_counts(slack, channels)
    assert set(counts.values()) == {1}, {c: n for c, n in counts.items() if n != 1}
    assert statuses(engine) == Counter({"sent": len(channels)})
    assert len(slack.calls_to("chat.postMessage")) == len(channels)  # no post was even attempted twice


def test_two_single_passes_started_together_post_each_digest_once(
    engine: Engine, database_url: str, slack: FakeSlack, tmp_path: Path
) -> None:
    channels = subscribe_many(engine, 40)
    env = env_for(slack, tmp_path)
    cmd = [COUNTERMAP, "--db", database_url, "digest", "run", "--once", "--now", NOW.isoformat()]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert set(top_level_counts(slack, channels).values()) == {1}
    assert statuses(engine) == Counter({"sent": len(channels)})
    sent = [int(out.split("sent ")[1].split(",")[0]) for out, _ in outputs]
    assert sum(sent) == len(channels)


def test_a_process_killed_between_post_and_record_loses_and_repeats_nothing(
    engine: Engine, database_url: str, slack: FakeSlack, tmp_path: Path
) -> None:
    channels = subscribe_many(engine, 5)
    once = [COUNTERMAP, "--db", database_url, "digest", "run", "--once", "--now"]
    killed = subprocess.run(
        [*once, NOW.isoformat()],
        env=env_for(slack, tmp_path, **{DIE_AFTER_POST_ENV: "1"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert sum(top_level_counts(slack, channels).values()) == 1  # Slack has the one post...
    assert statuses(engine)["sent"] == 0  # ...that the database never heard about

    # Restarted inside the claim timeout: the dead claim might be alive, so it waits; the rest go.
    soon = subprocess.run(
        [*once, (NOW + dt.timedelta(minutes=2)).isoformat()], env=env_for(slack, tmp_path),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert soon.returncode == 0, soon.stderr
    assert statuses(engine) == Counter({"sent": len(channels) - 1, "claimed": 1})
    # After the timeout the claim is taken over, the post found in the channel and recorded.
    later = subprocess.run(
        [*once, (NOW + dt.timedelta(minutes=11)).isoformat()], env=env_for(slack, tmp_path),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert later.returncode == 0, later.stderr
    assert "recovered 1" in later.stdout
    assert set(top_level_counts(slack, channels).values()) == {1}
    assert statuses(engine) == Counter({"sent": len(channels)})
