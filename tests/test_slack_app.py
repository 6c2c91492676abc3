"""The Slack app end to end over HTTP, with a stand-in Answerer: how each surface receives,
acknowledges and replies.  (Answers from the real corpus: ``test_slack_corpus.py``.)"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from bot import actions
from store.app_state import IncidentCard, Lookup
from tests.fake_slack import FakeSlack, Team
from tests.slack_harness import (
    CHANNEL,
    TEAM,
    USER,
    SlackUnderTest,
    StubAnswerer,
    action_ids,
    app_state,
    block_actions,
    element,
    new_event_id,
    new_ts,
    running_app,
)


@pytest.fixture(autouse=True)
def _no_slack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Engine]:
    with app_state(tmp_path / "state.db") as engine:
        yield engine


@pytest.fixture
def answerer(state: Engine) -> StubAnswerer:
    return StubAnswerer(state, slow_seconds=2.5)


@pytest.fixture
def slack(state: Engine, answerer: StubAnswerer) -> Iterator[SlackUnderTest]:
    with running_app(state, answerer) as s:
        s.fake.add_channel(CHANNEL, "soc")
        yield s


def wait_until(predicate, timeout: float = 5.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def message_event(
    text: str, *, channel: str = CHANNEL, ts: str | None = None, **extra: object
) -> dict[str, object]:
    return {
        "type": "message",
        "channel": channel,
        "channel_type": "im" if channel.startswith("D") else "channel",
        "user": USER,
        "text": text,
        "ts": ts or new_ts(),
        **extra,
    }


# ------------------------------------------------------------------------------ slash commands


def test_command_answer_travels_in_the_ack_as_an_ephemeral_message(slack: SlackUnderTest) -> None:
    reply = slack.command("T1048 SC-07")
    assert reply.status == 200
    body = reply.json()
    assert body["response_type"] == "ephemeral"
    assert "answer: T1048 SC-07" in body["blocks"][0]["text"]["text"]
    assert actions.SHARE in action_ids(body["blocks"])
    assert slack.fake.calls_to("response_url") == []  # nothing else was needed


def test_technique_command_asks_as_the_main_command_would(
    slack: SlackUnderTest, answerer: StubAnswerer
) -> None:
    reply = slack.command("SC-07", command="/t1048")
    assert reply.status == 200
    assert answerer.asked == ["T1048 SC-07"]


def test_help_lists_examples_without_asking_the_answerer(
    slack: SlackUnderTest, answerer: StubAnswerer
) -> None:
    text = json.dumps(slack.command("help").json()["blocks"])
    assert "/attack T1048 SC-07" in text and "/t1048" in text and "watch on" in text
    assert answerer.asked == []


def test_slow_answer_is_acked_at_once_then_posted_to_the_response_url(
    slack: SlackUnderTest, answerer: StubAnswerer
) -> None:
    slack.app._countermap_deps.ack_budget = 0.2  # type: ignore[attr-defined]
    answerer.slow_seconds = 0.8
    started = time.monotonic()
    reply = slack.command("slow T1059")
    assert time.monotonic() - started < 0.7
    assert "Looking up" in reply.json()["text"]
    (call,) = slack.fake.wait_for("response_url", timeout=5)
    assert call.body["replace_original"] is True
    assert "answer: slow T1059" in call.body["blocks"][0]["text"]["text"]


def test_failing_answer_becomes_an_apology_with_an_error_id_logged_with_its_traceback(
    slack: SlackUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        reply = slack.command("boom T1048")
    text = reply.json()["text"]
    assert reply.status == 200 and text.startswith("Sorry")
    error_id = text.split("`")[1]
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None


def test_command_look_ups_are_logged_for_app_home_and_digests(slack: SlackUnderTest, state: Engine) -> None:
    slack.command("T1566")

    def rows() -> list[Lookup]:
        with state.connect() as conn:
            return list(conn.execute(select(Lookup.source, Lookup.technique_ids, Lookup.user_id)).all())

    assert wait_until(rows) == [("command", ["T1566"], USER)]


def test_watch_on_is_refused_to_non_admins_when_admins_are_configured(
    state: Engine, answerer: StubAnswerer
) -> None:
    with running_app(state, answerer, admin_mode="configured", admins=("U0BOSS",)) as s:
        refused = s.command("watch on")
        allowed = s.command("watch on", user_id="U0BOSS")
    assert "Only the admins" in refused.json()["text"]
    assert "*on*" in allowed.json()["text"]


def test_watch_on_for_workspace_admins_asks_slack_who_is_an_admin(
    state: Engine, answerer: StubAnswerer
) -> None:
    with running_app(state, answerer, admin_mode="workspace_admins") as s:
        s.fake.add_user("U0ADMIN", is_admin=True)
        assert "Only workspace admins" in s.command("watch off").json()["text"]
        assert "*off*" in s.command("watch off", user_id="U0ADMIN").json()["text"]


# ------------------------------------------------------------------------------ conversations


def test_mention_gets_a_threaded_reply_without_a_share_button(slack: SlackUnderTest) -> None:
    ts = new_ts()
    event = {
        "type": "app_mention",
        "channel": CHANNEL,
        "user": USER,
        "text": "<@U0BOT0001> T1110 please",
        "ts": ts,
    }
    assert slack.event(event).status == 200
    (call,) = slack.fake.wait_for("chat.postMessage")
    assert call.body["thread_ts"] == ts and call.body["channel"] == CHANNEL
    assert "answer: T1110 please" in call.body["text"]
    assert actions.SHARE not in action_ids(call.body["blocks"])


def test_direct_message_is_a_question(slack: SlackUnderTest, answerer: StubAnswerer) -> None:
    slack.event(message_event("what covers T1078?", channel="D0DM001"))
    (call,) = slack.fake.wait_for("chat.postMessage")
    assert call.body["channel"] == "D0DM001" and answerer.asked == ["what covers T1078?"]


def test_incident_channel_gets_one_card_per_technique_per_thread(
    slack: SlackUnderTest, state: Engine
) -> None:
    slack.fake.add_channel("C0INC001", "inc-2026-ransomware")
    root = new_ts()
    slack.event(message_event("seeing T1486 and T1490 on the file servers", channel="C0INC001", ts=root))
    cards = slack.fake.wait_for("chat.postMessage", count=2)
    assert {c.body["thread_ts"] for c in cards} == {root}
    assert sorted(c.body["text"] for c in cards) == ["card: T1486", "card: T1490"]
    # the same technique again in the thread, and a retried delivery: no new card
    slack.event(message_event("T1486 confirmed", channel="C0INC001", thread_ts=root))
    slack.drain()
    assert len(slack.fake.calls_to("chat.postMessage")) == 2
    with state.connect() as conn:
        assert conn.execute(select(func.count()).select_from(IncidentCard)).scalar_one() == 2


def test_no_cards_in_unwatched_channels_or_for_bots(slack: SlackUnderTest) -> None:
    slack.fake.add_channel("C0INC002", "inc-phish")
    slack.event(message_event("T1566 again", channel=CHANNEL))  # "soc": no pattern match
    slack.event(message_event("T1566 from a bot", channel="C0INC002", bot_id="B0OTHER"))
    slack.event(message_event("T1566 edited", channel="C0INC002", subtype="message_changed"))
    slack.drain()
    assert slack.fake.calls_to("chat.postMessage") == []


def test_a_settings_change_shows_in_the_reply_of_the_request_that_made_it(slack: SlackUnderTest) -> None:
    """The version a request's replay-guard claim read is from before its own change: the reply
    to ``watch on`` must not come from the copy read for the ``watch status`` before it."""
    assert "*on*" not in slack.command("watch status").json()["text"]
    assert "*on*" in slack.command("watch on").json()["text"]
    assert "*off*" in slack.command("watch off").json()["text"]


def test_watch_on_enables_cards_in_any_channel(slack: SlackUnderTest) -> None:
    assert "*on*" in slack.command("watch on").json()["text"]
    slack.event(message_event("T1059.001 spotted", channel=CHANNEL))
    (call,) = slack.fake.wait_for("chat.postMessage")
    assert call.body["text"] == "card: T1059.001"


def test_cards_are_rate_limited_per_channel(state: Engine, answerer: StubAnswerer) -> None:
    with running_app(state, answerer, card_rate_limit_per_minute=2) as s:
        s.fake.add_channel("C0INC003", "inc-busy")
        for n in range(4):
            s.event(message_event(f"T10{n + 10}", channel="C0INC003"))
        s.drain()
        assert len(s.fake.calls_to("chat.postMessage")) == 2


def test_rate_limited_web_api_is_retried_after_retry_after(slack: SlackUnderTest) -> None:
    slack.fake.fail_next("chat.postMessage", "429", retry_after=1)
    slack.event(message_event("T1078", channel="D0DM002"))
    slack.fake.wait_for("chat.postMessage", timeout=6)
    assert [c.outcome for c in slack.fake.calls_to("chat.postMessage")] == ["429", "ok"]


# ------------------------------------------------------------------------------ interactivity


def test_button_on_a_channel_message_opens_privately_and_leaves_the_message(slack: SlackUnderTest) -> None:
    """Issue 15 item 13: "Full answer" or paging on a card in the channel rewrote it for everyone."""
    posted = {"type": "message", "ts": new_ts(), "text": "x"}
    el = {"action_id": actions.PAGE, "type": "button", "value": "page2|T1048"}
    payload = block_actions(el, message=posted, response_url=slack.fake.response_url("b1"))
    assert slack.interact(payload).status == 200
    (call,) = slack.fake.wait_for("response_url")
    assert call.body["replace_original"] is False and call.body["response_type"] == "ephemeral"
    assert call.body["text"] == "state: page2|T1048"
    assert slack.fake.calls_to("chat.update") == []


def test_open_on_a_several_entity_answer_posts_the_entity_privately_beside_it(slack: SlackUnderTest) -> None:
    el = {"action_id": f"{actions.OPEN}:1", "type": "button", "value": "cm1:T1566"}
    slack.interact(block_actions(el, ephemeral=True, response_url=slack.fake.response_url("open")))
    (call,) = slack.fake.wait_for("response_url")
    assert call.body["replace_original"] is False and call.body["text"] == "state: cm1:T1566"


def test_button_on_an_ephemeral_answer_replaces_it_through_the_response_url(slack: SlackUnderTest) -> None:
    answer = slack.command("T1048").json()
    el = element(answer["blocks"], actions.PAGE)
    slack.interact(block_actions(el, ephemeral=True, response_url=slack.fake.response_url("eph")))
    (call,) = slack.fake.wait_for("response_url")
    assert call.body["replace_original"] is True and call.body["text"] == "state: page2|T1048"


def test_share_posts_in_the_channel_attributed_and_removes_the_ephemeral(slack: SlackUnderTest) -> None:
    answer = slack.command("T1048").json()
    el = element(answer["blocks"], actions.SHARE)
    slack.interact(block_actions(el, ephemeral=True, response_url=slack.fake.response_url("share")))
    (post,) = slack.fake.wait_for("chat.postMessage")
    assert post.body["channel"] == CHANNEL and f"<@{USER}>" in post.body["text"]
    (deleted,) = slack.fake.wait_for("response_url")
    assert deleted.body["delete_original"] is True


def test_export_uploads_the_file_into_the_thread(slack: SlackUnderTest) -> None:
    posted = {"type": "message", "ts": new_ts()}
    el = {"action_id": actions.EXPORT_CSV + ":2", "type": "button", "value": "T1048"}
    slack.interact(block_actions(el, message=posted, response_url=slack.fake.response_url("x")))
    slack.fake.wait_for("files.completeUploadExternal")
    (upload,) = slack.fake.uploads.values()
    assert upload["content"] == b"export of T1048\n"
    assert (upload["channel"], upload["thread_ts"], upload["filename"]) == (
        CHANNEL,
        posted["ts"],
        "countermap.csv",
    )


def test_a_private_answers_export_that_cannot_reach_the_requester_is_posted_nowhere(
    slack: SlackUnderTest,
) -> None:
    """Slack refuses the direct message (an install without im:write): the requester is told
    why and may post it in the channel; nothing went anywhere meanwhile."""
    slack.fake.set_response("conversations.open", {"ok": False, "error": "missing_scope"})
    answer = slack.command("T1048").json()
    csv = element(answer["blocks"], actions.EXPORT_CSV)
    slack.interact(block_actions(csv, ephemeral=True, response_url=slack.fake.response_url("x")))
    (notice,) = slack.fake.wait_for("response_url")
    slack.drain()
    assert "missing_scope" in notice.body["text"] and "nothing was posted" in notice.body["text"]
    assert slack.fake.uploads == {} and slack.fake.calls_to("chat.postMessage") == []
    assert element(notice.body["blocks"], actions.EXPORT_POST_CSV)["value"] == csv["value"]


def test_posting_an_export_where_the_bot_is_not_a_member_says_invite_me(slack: SlackUnderTest) -> None:
    slack.fake.set_response("files.completeUploadExternal", {"ok": False, "error": "not_in_channel"})
    post = {"action_id": actions.EXPORT_POST_CSV, "type": "button", "value": "T1048"}
    slack.interact(block_actions(post, ephemeral=True, response_url=slack.fake.response_url("p")))
    (told,) = slack.fake.wait_for("response_url")
    slack.drain()
    assert "Invite me" in told.body["text"] and told.body.get("delete_original") is None
    assert [c.body for c in slack.fake.calls_to("response_url")] == [told.body]  # the notice stays


def test_message_shortcut_looks_up_the_ids_in_the_message(
    slack: SlackUnderTest, answerer: StubAnswerer
) -> None:
    payload = {
        "type": "message_action",
        "callback_id": "cm_lookup_message",
        "team": {"id": TEAM},
        "user": {"id": USER},
        "channel": {"id": CHANNEL},
        "message": {
            "ts": new_ts(),
            "text": "EDR flagged <https://attack.mitre.org/techniques/T1055/012/|this> and T1003",
        },
        "response_url": slack.fake.response_url("ms"),
        "trigger_id": "1.2.3",
    }
    assert slack.interact(payload).status == 200
    (call,) = slack.fake.wait_for("response_url")
    assert answerer.asked == ["T1055.012 T1003"]
    assert call.body["response_type"] == "ephemeral"


def test_global_shortcut_opens_a_loading_modal_then_the_form(slack: SlackUnderTest) -> None:
    payload = {"type": "shortcut", "callback_id": "cm_search", "team": {"id": TEAM}, "user": {"id": USER},
               "trigger_id": "9.9.9"}  # fmt: skip
    slack.interact(payload)
    (opened,) = slack.fake.wait_for("views.open")
    (updated,) = slack.fake.wait_for("views.update")
    assert "Loading" in json.dumps(opened.body["view"])
    assert updated.body["view"]["submit"]["text"] == "Search"
    assert opened.at <= updated.at


def _submission(query: str, view_id: str = "V0MODAL1") -> dict[str, object]:
    return {
        "type": "view_submission",
        "team": {"id": TEAM},
        "user": {"id": USER},
        "view": {
            "id": view_id,
            "type": "modal",
            "callback_id": "cm_search_modal",
            "private_metadata": "",
            "state": {"values": {"cm_q": {"cm_q": {"type": "plain_text_input", "value": query}},
                                 "cm_cat": {"cm_cat": {"type": "checkboxes",
                                                       "selected_options": [{"value": "detect"}]}}}},
        },
    }  # fmt: skip


def test_modal_submission_shows_results_in_the_modal(slack: SlackUnderTest, answerer: StubAnswerer) -> None:
    reply = slack.interact(_submission("T1021"))
    body = reply.json()
    assert body["response_action"] == "update"
    text = json.dumps(body["view"]["blocks"])
    assert "answer: T1021" in text
    assert actions.SHARE not in action_ids(body["view"]["blocks"])  # no channel to share to in a modal


def test_modal_submission_without_a_query_shows_an_error_on_the_field(slack: SlackUnderTest) -> None:
    body = slack.interact(_submission("  ")).json()
    assert body["response_action"] == "errors" and "cm_q" in body["errors"]


# ------------------------------------------------------------------------------ home and unfurls


def test_app_home_is_published_with_the_users_recent_look_ups(slack: SlackUnderTest, state: Engine) -> None:
    slack.command("watch on")
    slack.command("frameworks gcp")
    slack.command("T1190 exploit")

    def logged() -> int:
        with state.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Lookup)).scalar_one())

    wait_until(logged)
    slack.event({"type": "app_home_opened", "user": USER, "channel": "D0DM001", "tab": "home"})
    (call,) = slack.fake.wait_for("views.publish")
    view = json.dumps(call.body["view"])
    assert call.body["user_id"] == USER and "T1190 exploit" in view and "How to" in view
    assert f"<#{CHANNEL}>: incident cards on; answers from GCP" in view


def test_links_to_technique_pages_unfurl_into_the_card(slack: SlackUnderTest) -> None:
    ts = new_ts()
    links = [
        {"domain": "attack.mitre.org", "url": "https://attack.mitre.org/techniques/T1048/003/"},
        {"domain": "example.com", "url": "https://example.com/T1048"},
    ]
    slack.event({"type": "link_shared", "channel": CHANNEL, "user": USER, "message_ts": ts, "links": links})
    (call,) = slack.fake.wait_for("chat.unfurl")
    assert call.body["ts"] == ts
    assert list(call.body["unfurls"]) == ["https://attack.mitre.org/techniques/T1048/003/"]
    assert "card: T1048.003" in json.dumps(call.body["unfurls"])


# ------------------------------------------------------------------------------ safety


def test_forged_stale_and_replayed_requests_are_refused_without_running_a_listener(
    slack: SlackUnderTest, answerer: StubAnswerer
) -> None:
    from tests.fake_slack import command_body

    body = command_body("/attack", "T1048", response_url=slack.fake.response_url())
    ct = "application/x-www-form-urlencoded"
    assert slack.send(body, ct, secret="not-the-secret").status == 401
    assert slack.send(body, ct, timestamp=int(time.time()) - 301).status == 401
    assert slack.send(body, ct, timestamp=int(time.time()) + 301).status == 401
    assert slack.send(body, ct, secret=None).status == 401
    assert answerer.asked == []
    fixed = int(time.time())
    assert slack.send(body, ct, timestamp=fixed).status == 200
    assert slack.send(body, ct, timestamp=fixed).status == 401  # the same signed request again
    assert answerer.asked == ["T1048"]


def test_retried_event_is_answered_once(slack: SlackUnderTest) -> None:
    event = {
        "type": "app_mention",
        "channel": CHANNEL,
        "user": USER,
        "text": "<@U0BOT0001> T1110",
        "ts": new_ts(),
    }
    event_id = new_event_id()
    now = int(time.time())
    retry_headers = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert slack.event(event, event_id=event_id, timestamp=now - 4).status == 200
    # re-sent freshly signed, and re-sent with the first delivery's very signature
    assert slack.event(event, event_id=event_id, timestamp=now, headers=retry_headers).status == 200
    assert slack.event(event, event_id=event_id, timestamp=now - 4, headers=retry_headers).status == 200
    slack.drain()
    assert len(slack.fake.calls_to("chat.postMessage")) == 1


def test_tokens_are_sent_as_configured_and_never_logged(
    slack: SlackUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        slack.event(message_event("T1078", channel="D0DM003"))
        (call,) = slack.fake.wait_for("chat.postMessage")
    assert call.token == "xoxb-e2e-bot-token"
    assert "xoxb-e2e-bot-token" not in caplog.text


def test_unknown_team_token_gets_its_own_auth(state: Engine, answerer: StubAnswerer) -> None:
    with FakeSlack() as fake:
        fake.add_team("xoxb-e2e-bot-token", Team(team_id=TEAM, bot_user_id="U0BOTX"))
        with running_app(state, answerer, fake=fake) as s:
            s.event(
                {
                    "type": "app_mention",
                    "channel": CHANNEL,
                    "user": USER,
                    "text": "<@U0BOTX> T1110",
                    "ts": new_ts(),
                }
            )
            (call,) = s.fake.wait_for("chat.postMessage")
            assert "answer: T1110" in call.body["text"]  # the bot's own mention was removed


def test_failure_in_a_lazy_listener_apologises_in_the_thread_and_logs_the_traceback(
    slack: SlackUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    ts = new_ts()
    with caplog.at_level(logging.ERROR):
        slack.event(
            {"type": "app_mention", "channel": CHANNEL, "user": USER, "text": "<@U0BOT0001> boom", "ts": ts}
        )
        (call,) = slack.fake.wait_for("chat.postMessage")
    assert call.body["thread_ts"] == ts and call.body["text"].startswith("Sorry")
    error_id = call.body["text"].split("`")[1]
    (record,) = [r for r in caplog.records if error_id in r.getMessage()]
    assert record.exc_info is not None and "the answerer broke" in str(record.exc_info[1])


def test_digest_commands_are_routed_and_changes_need_an_admin(state: Engine, answerer: StubAnswerer) -> None:
    with running_app(state, answerer, admin_mode="configured", admins=("U0BOSS",)) as s:
        s.fake.add_user("U0BOSS", tz="Europe/Paris")
        helped = s.command("digest help").json()
        refused = s.command("digest subscribe 08:30").json()
        subscribed = s.command("digest subscribe 08:30", user_id="U0BOSS").json()
    assert "digest" in helped["text"].lower()
    assert "Only the admins" in refused["text"]
    assert "08:30" in json.dumps(subscribed["blocks"]) and "Europe/Paris" in json.dumps(subscribed["blocks"])


def test_clicks_on_link_buttons_are_acknowledged_quietly(slack: SlackUnderTest) -> None:
    el = {
        "action_id": "cm_link_attack",
        "type": "button",
        "url": "https://attack.mitre.org/techniques/T1048/",
    }
    reply = slack.interact(block_actions(el, response_url=slack.fake.response_url("l")))
    assert reply.status == 200
    slack.drain()
    assert [c.method for c in slack.fake.calls if c.method != "auth.test"] == []


def test_failed_unfurl_posts_nothing_in_the_channel(slack: SlackUnderTest, answerer: StubAnswerer) -> None:
    def broken(technique_id: str) -> None:
        raise RuntimeError("card broke")

    answerer.card = broken  # type: ignore[method-assign,assignment]
    links = [{"domain": "attack.mitre.org", "url": "https://attack.mitre.org/techniques/T1048/"}]
    slack.event(
        {"type": "link_shared", "channel": CHANNEL, "user": USER, "message_ts": new_ts(), "links": links}
    )
    slack.drain()
    assert [c.method for c in slack.fake.calls if c.method != "auth.test"] == []


def test_channel_frameworks_become_the_default_for_answers_in_that_channel(
    slack: SlackUnderTest, answerer: StubAnswerer
) -> None:
    assert "don't know the framework `cobit`" in slack.command("frameworks aws cobit").json()["text"]
    confirmed = slack.command("frameworks aws, microsoft").json()["text"]
    assert "Amazon Web Services" in confirmed or "AWS" in confirmed
    slack.command("T1048")
    slack.command("T1048", channel_id="C0OTHER1")
    assert answerer.frameworks_asked == [("aws", "m365"), ()]
    slack.command("frameworks default")
    slack.command("T1048")
    assert answerer.frameworks_asked[-1] == ()


def test_incident_cards_use_the_channels_frameworks(slack: SlackUnderTest, answerer: StubAnswerer) -> None:
    """Issue 15 item 3: cards called ``card(tid)`` without the channel's ``/attack frameworks``."""
    slack.command("frameworks aws azure")
    slack.command("watch on")
    slack.event(message_event("T1048 on the file server", channel=CHANNEL))
    slack.fake.wait_for("chat.postMessage")
    assert answerer.cards_asked[-1][:2] == ("T1048", ("aws", "azure"))


def test_watch_off_holds_on_the_next_message_on_every_instance(state: Engine, answerer: StubAnswerer) -> None:
    """Two app instances on one database: a change on one holds at once on the other (each
    worker cached the setting for 30 s: ``watch status`` alternated and a card was posted after
    ``watch off``)."""
    from bot.config import Settings
    from bot.slack.cards import CardPolicy

    with running_app(state, answerer) as a, running_app(state, answerer) as b:
        a.fake.add_channel(CHANNEL, "soc")
        b.fake.add_channel(CHANNEL, "soc")
        other = CardPolicy(state, Settings())  # a third worker's own policy object
        a.command("watch on")
        assert "*on*" in b.command("watch status").json()["text"]
        assert other.watch_setting(TEAM, CHANNEL) is True
        a.command("watch off")
        assert "*off*" in b.command("watch status").json()["text"]
        assert other.watch_setting(TEAM, CHANNEL) is False
        b.command("frameworks aws")
        assert other.channel_frameworks(TEAM, CHANNEL) == ("aws",)


def test_a_versioned_mappings_explorer_link_unfurls_at_that_attack_version(
    slack: SlackUnderTest, answerer: StubAnswerer
) -> None:
    url = (
        "https://center-for-threat-informed-defense.github.io/mappings-explorer/attack/attack-14.1/"
        "domain-enterprise/techniques/T1048/"
    )
    ts = new_ts()
    links = [{"domain": "center-for-threat-informed-defense.github.io", "url": url}]
    slack.event({"type": "link_shared", "channel": CHANNEL, "user": USER, "message_ts": ts, "links": links})
    slack.fake.wait_for("chat.unfurl")
    tid, _, filters = answerer.cards_asked[-1]
    assert tid == "T1048" and filters.attack_version == "14.1" and filters.domain == "enterprise"


def test_response_url_posts_are_retried_after_a_rate_limit(slack: SlackUnderTest) -> None:
    answer = slack.command("T1048").json()
    el = element(answer["blocks"], actions.PAGE)
    slack.fake.fail_next("response_url", "429", retry_after=1)
    slack.interact(block_actions(el, ephemeral=True, response_url=slack.fake.response_url("retry")))
    (call,) = slack.fake.wait_for("response_url", timeout=6)
    assert call.body["text"] == "state: page2|T1048"
    assert [c.outcome for c in slack.fake.calls_to("response_url")] == ["429", "ok"]


def test_response_url_post_is_not_repeated_nor_apologised_for_after_a_server_error(
    slack: SlackUnderTest,
) -> None:
    """Slack may have taken it before failing, and a response URL cannot be asked."""
    answer = slack.command("T1048").json()
    el = element(answer["blocks"], actions.PAGE)
    slack.fake.fail_next("response_url", "500")
    slack.interact(block_actions(el, ephemeral=True, response_url=slack.fake.response_url("retry")))
    slack.drain()
    assert [c.outcome for c in slack.fake.calls_to("response_url")] == ["500"]
