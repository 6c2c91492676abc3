"""``countermap digest list`` and ``preview`` for operators, and ``--now`` checking."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.cli import main
from store.app_state import DigestRun
from store.db import write_session
from store.state import subscriptions
from tests.digest_support import TEAM, seed


@pytest.fixture
def db(engine: Engine) -> Engine:
    seed(engine)
    with write_session(engine) as s:
        subscriptions.subscribe(
            s, team_id=TEAM, channel_id="C1", user_id="U1",
            changes=subscriptions.Changes(watch=("T1048", "T1566")),
            defaults=subscriptions.Defaults("08:30", "Asia/Tokyo", ("nist_800_53", "m365")),
            now=dt.datetime(2026, 11, 27, tzinfo=dt.UTC),
        )  # fmt: skip
    return engine


def test_list_shows_each_subscription_and_its_next_digest(
    db: Engine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", database_url, "digest", "list", "--now", "2026-11-28T00:00:00+00:00"]) == 0
    out = capsys.readouterr().out
    assert f"{TEAM}/C1: daily at 08:30 Asia/Tokyo" in out
    assert "next: Sun 29 Nov 08:30" in out  # 00:00Z is 09:00 in Tokyo: today's 08:30 has passed
    assert "last:" not in out
    with write_session(db) as s:
        sub = subscriptions.get(s, TEAM, "C1")
        assert sub is not None
        for day, status in ((27, "sent"), (28, "failed")):
            due = dt.datetime(2026, 11, day - 1, 23, 30, tzinfo=dt.UTC)
            sent = due if status == "sent" else None
            s.add(
                DigestRun(
                    subscription_id=sub.id, local_date=dt.date(2026, 11, day), due_at=due, status=status,
                    claimed_at=due, attempts=1, sent_at=sent,
                )
            )  # fmt: skip
    assert main(["--db", database_url, "digest", "list", "--now", "2026-11-28T00:00:00+00:00"]) == 0
    assert "last: 2026-11-28 failed" in capsys.readouterr().out


def test_preview_prints_the_block_kit_of_a_channel(
    db: Engine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", database_url, "digest", "preview", "--team", TEAM, "--channel", "C1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["main"]["blocks"] and isinstance(out["thread"], list)


def test_now_without_an_offset_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "--db",
                f"sqlite:///{tmp_path / 'x.db'}",
                "digest",
                "run",
                "--once",
                "--now",
                "2026-11-28T09:01:00",
            ]
        )
    assert exit_.value.code == 2
    assert "no UTC offset" in capsys.readouterr().err
