"""Unanswered questions: what counts, how they are kept (no user IDs unless asked, pruned after the
retention), and how admins read them (CLI, JSON, App Home)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import Engine, func, select

from bot.answer import Answerer
from bot.cli import main
from bot.config import Settings
from bot.slack.lookups import LookupLog
from bot.unanswered import unanswered_row
from store.state.unanswered import (
    UnansweredQuestion,
    UnansweredRow,
    prune_unanswered,
    record_unanswered,
    top_unanswered,
)

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def answerer(corpus_engine: Engine) -> Answerer:
    return Answerer(corpus_engine, Settings())


def _row(answerer: Answerer, text: str, **kw: object) -> UnansweredRow | None:
    settings = kw.pop("settings", Settings())
    assert isinstance(settings, Settings)
    return unanswered_row(
        answerer.answer(text), surface="command", query=text, team_id="T1",
        user_id="U1", settings=settings,
    )  # fmt: skip


def test_text_that_resolves_to_nothing_is_recorded_as_no_match(answerer: Answerer) -> None:
    row = _row(answerer, "qwxz plorb frobnicate")
    assert row is not None and row.reason == "no_match" and row.team_id == "T1"


def test_an_exact_id_is_not_unanswered(answerer: Answerer) -> None:
    assert _row(answerer, "T1048") is None
    assert _row(answerer, "SC-07") is None


def test_help_is_not_a_question_the_index_failed_on(answerer: Answerer) -> None:
    assert _row(answerer, "help") is None


def test_a_guess_under_the_threshold_is_recorded_with_what_was_guessed(answerer: Answerer) -> None:
    text = "exfil over dns in azure"  # a technique by its words, not its name
    resolution = answerer.resolve(text)
    best = max(
        [t.score for t in resolution.techniques[:1]]
        + [c.score for c in resolution.capabilities[:1]]
        + [o.score for o in resolution.attack_objects[:1]]
    )
    strict = Settings().with_(unanswered_min_score=int(best) + 1)
    lenient = Settings().with_(unanswered_min_score=int(best) - 1)
    row = _row(answerer, text, settings=strict)
    assert row is not None and row.reason == "low_confidence"
    assert row.best_guess and row.score == round(best, 1)
    assert _row(answerer, text, settings=lenient) is None


def test_user_ids_are_dropped_unless_configured(answerer: Answerer) -> None:
    text = "qwxz plorb frobnicate"
    assert _row(answerer, text).user_id is None  # type: ignore[union-attr]
    kept = _row(answerer, text, settings=Settings().with_(unanswered_keep_user_ids=True))
    assert kept is not None and kept.user_id == "U1"


def test_questions_differing_in_case_and_spacing_count_as_one(engine: Engine) -> None:
    rows = [
        UnansweredRow("T1", "command", "PAM  backdoor", "no_match", created_at=NOW - dt.timedelta(hours=2)),
        UnansweredRow("T1", "mention", "pam backdoor", "no_match", created_at=NOW - dt.timedelta(hours=1)),
        UnansweredRow(
            "T2", "dm", "Pam Backdoor ", "low_confidence", "T1556 Modify Auth", 60.0, created_at=NOW
        ),
        UnansweredRow("T1", "command", "sticky keys trick", "no_match", created_at=NOW),
    ]
    record_unanswered(engine, rows)
    top = top_unanswered(engine, since=NOW - dt.timedelta(days=1))
    assert [(t.query, t.count) for t in top] == [("Pam Backdoor ", 3), ("sticky keys trick", 1)]
    first = top[0]
    assert first.surfaces == ("command", "dm", "mention") and first.teams == 2
    assert first.reason == "no_match" and first.best_guess == "T1556 Modify Auth"
    assert first.last_seen == NOW and first.first_seen == NOW - dt.timedelta(hours=2)
    only_t1 = top_unanswered(engine, since=NOW - dt.timedelta(days=1), team_id="T1")
    assert [(t.query, t.count) for t in only_t1] == [("pam backdoor", 2), ("sticky keys trick", 1)]


def test_rows_older_than_the_retention_are_pruned(engine: Engine) -> None:
    old = UnansweredRow("T1", "command", "old question", "no_match", created_at=NOW - dt.timedelta(days=31))
    new = UnansweredRow("T1", "command", "new question", "no_match", created_at=NOW - dt.timedelta(days=29))
    record_unanswered(engine, [old, new])
    assert prune_unanswered(engine, older_than=NOW - dt.timedelta(days=30)) == 1
    left = top_unanswered(engine, since=NOW - dt.timedelta(days=365))
    assert [t.query for t in left] == ["new question"]


def test_the_slack_lookup_log_records_what_found_nothing(engine: Engine, answerer: Answerer) -> None:
    log = LookupLog(engine, batch_delay=0.01, settings=Settings())
    for text in ("T1048", "qwxz plorb frobnicate", "qwxz plorb frobnicate"):
        log.record(answerer.answer(text), source="mention", query=text,
                   team_id="T9", channel_id="C1", user_id="U1")  # fmt: skip
    log.flush()
    log.close()
    with engine.connect() as conn:
        users = conn.execute(select(UnansweredQuestion.user_id)).scalars().all()
        assert conn.execute(select(func.count()).select_from(UnansweredQuestion)).scalar_one() == 2
    assert users == [None, None]
    top = top_unanswered(engine, since=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    assert [(t.query, t.count, t.surfaces) for t in top] == [("qwxz plorb frobnicate", 2, ("mention",))]


def test_the_cli_lists_the_top_questions_as_json(
    database_url: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    now = dt.datetime.now(dt.UTC)
    record_unanswered(engine, [
        UnansweredRow("T1", "command", "ppid trick", "no_match", created_at=now),
        UnansweredRow("T1", "command", "ppid trick", "no_match", created_at=now),
        UnansweredRow("T1", "modal", "waf thing", "low_confidence", "aws_waf AWS WAF", 61.0, created_at=now),
        UnansweredRow("T1", "modal", "ancient", "no_match", created_at=now - dt.timedelta(days=40)),
    ])  # fmt: skip
    assert main(["--db", database_url, "analytics", "unanswered", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["days"] == 30
    assert [(q["query"], q["count"], q["reason"]) for q in data["questions"]] == [
        ("ppid trick", 2, "no_match"),
        ("waf thing", 1, "low_confidence"),
    ]
    with engine.connect() as conn:  # the 40-day-old row was pruned on the way
        assert conn.execute(select(func.count()).select_from(UnansweredQuestion)).scalar_one() == 3
    assert main(["--db", database_url, "analytics", "unanswered"]) == 0
    text = capsys.readouterr().out
    assert "2×  'ppid trick'" in text and "guessed aws_waf AWS WAF" in text


def test_app_home_shows_admins_the_top_unanswered_questions_and_others_not(engine: Engine) -> None:
    from tests.slack_harness import StubAnswerer, running_app

    now = dt.datetime.now(dt.UTC)
    record_unanswered(engine, [UnansweredRow("T0TEAM001", "mention", "mystery lateral thing", "no_match",
                                             created_at=now)] * 3)  # fmt: skip
    with running_app(engine, StubAnswerer(engine), admin_mode="configured", admins=("U0BOSS",)) as s:
        s.event({"type": "app_home_opened", "user": "U0BOSS", "channel": "D0DM001", "tab": "home"})
        (boss,) = s.fake.wait_for("views.publish")
        s.fake.reset()
        s.event({"type": "app_home_opened", "user": "U0OTHER", "channel": "D0DM002", "tab": "home"})
        (other,) = s.fake.wait_for("views.publish")
    boss_view, other_view = json.dumps(boss.body["view"]), json.dumps(other.body["view"])
    assert (
        "Questions I could not answer" in boss_view and "*3\\u00d7* \\u201cmystery lateral thing" in boss_view
    )
    assert "Questions I could not answer" not in other_view and "mystery" not in other_view
