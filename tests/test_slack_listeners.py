"""Listener logic in process: one signed request per surface through ``app.dispatch(BoltRequest)``,
as bolt-python's own scenario tests do, answering from the real corpus.  Lazy listeners run
inline (an executor that runs what it is given), so each test sees every Web API call its
request made without waiting.  Transport, retries and several instances are tested against the
served app (``test_slack_app.py``, ``test_slack_instances.py``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import pytest
from slack_bolt import App, BoltRequest, BoltResponse
from sqlalchemy import Engine

from bot import actions
from bot.answer import Answerer
from bot.config import Settings
from bot.digest.commands import handle_digest_command
from bot.errors import UserFacingError
from bot.render.errors import error_payload
from bot.slack.app import build_app
from bot.slack.listeners import commands
from bot.slack.listeners.common import Deps, message_args, public
from store.db import make_engine
from store.migrate import upgrade
from store.state.lookups import RecentLookup, recent_for_user
from tests.fake_slack import FakeSlack, command_body, event_body, interactive_body, signed_headers
from tests.slack_harness import CHANNEL, TEAM, USER, block_actions, element, new_ts

SECRET = "in-process-signing-secret"
TOKEN = "xoxb-in-process"
P = ParamSpec("P")
R = TypeVar("R")


class RunNow(Executor):
    """Runs each task on the caller's thread: a lazy listener has finished when dispatch returns."""

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        done: Future[R] = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            done.set_exception(exc)
        return done


@dataclass
class InProcess:
    app: App
    fake: FakeSlack
    state: Engine
    answerer: Answerer

    @property
    def deps(self) -> Deps:
        return self.app._countermap_deps  # type: ignore[attr-defined,no-any-return]

    def dispatch(self, body: str, content_type: str) -> BoltResponse:
        headers = {"content-type": content_type, **signed_headers(SECRET, body)}
        return self.app.dispatch(BoltRequest(body=body, headers={k.lower(): v for k, v in headers.items()}))

    def command(self, text: str, **fields: str) -> BoltResponse:
        fields.setdefault("response_url", self.fake.response_url("cmd"))
        return self.dispatch(command_body("/attack", text, **fields), "application/x-www-form-urlencoded")

    def event(self, event: dict[str, Any]) -> BoltResponse:
        return self.dispatch(event_body(event, event_id=f"Ev{new_ts()}"), "application/json")

    def interact(self, payload: dict[str, Any]) -> BoltResponse:
        return self.dispatch(interactive_body(payload), "application/x-www-form-urlencoded")

    def look_ups(self, user: str = USER) -> list[RecentLookup]:
        self.deps.lookups.flush()
        return recent_for_user(self.state, TEAM, user)


@pytest.fixture(scope="module")
def real_answerer(corpus_engine: Engine) -> Answerer:
    answerer = Answerer(corpus_engine, Settings())
    answerer.refresh_if_stale()
    return answerer


@pytest.fixture
def bot(tmp_path: Path, real_answerer: Answerer, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcess]:
    for var in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(var, raising=False)
    state = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade(state)
    with FakeSlack() as fake:
        fake.add_channel(CHANNEL, "soc")
        settings = Settings(slack_bot_token=TOKEN, slack_signing_secret=SECRET, slack_api_url=fake.base_url)
        app = build_app(
            settings, state, real_answerer, digest_command=handle_digest_command, listener_executor=RunNow()
        )
        yield InProcess(app, fake, state, real_answerer)
        app._countermap_deps.close()  # type: ignore[attr-defined]
    state.dispose()


def test_slash_command_answers_in_the_ack_and_logs_who_asked_where(bot: InProcess) -> None:
    response = bot.dispatch(
        command_body(
            "/attack", "T1048 SC-07", response_url=bot.fake.response_url("c"), channel_id="C0OTHER01"
        ),
        "application/x-www-form-urlencoded",
    )
    body = json.loads(response.body)
    expected = bot.answerer.answer("T1048 SC-07", frameworks=()).payload
    assert response.status == 200 and body["response_type"] == "ephemeral"
    assert body["text"] == expected.text and body["blocks"] == expected.blocks
    (logged,) = bot.look_ups()
    assert (logged.query, logged.source, logged.channel_id) == ("T1048 SC-07", "command", "C0OTHER01")
    assert bot.fake.calls_to("chat.postMessage") == []  # nothing beyond the ack


def test_a_failing_command_acks_the_one_error_rendering_with_its_id(
    bot: InProcess, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("database went away: postgresql://u:pw@h/db")

    monkeypatch.setattr(bot.answerer, "answer", broken)
    body = json.loads(bot.command("T1048").body)
    assert "Sorry, something went wrong" in body["text"] and "postgresql" not in json.dumps(body)
    error_id = body["text"].split("`")[1]
    assert any(error_id in r.getMessage() and r.exc_info for r in caplog.records)


def test_app_mention_replies_in_the_thread_of_the_mention(bot: InProcess) -> None:
    ts = new_ts()
    event = {
        "type": "app_mention",
        "channel": CHANNEL,
        "user": USER,
        "ts": ts,
        "text": "<@U0BOT0001> T1566.001",
    }
    assert bot.event(event).status == 200
    (posted,) = bot.fake.calls_to("chat.postMessage")
    assert (posted.body["channel"], posted.body["thread_ts"]) == (CHANNEL, ts)
    assert posted.body["text"] == bot.answerer.answer("T1566.001").payload.text
    assert actions.SHARE not in json.dumps(posted.body["blocks"])  # already public
    assert [(x.query, x.source, x.channel_id) for x in bot.look_ups()] == [("T1566.001", "mention", CHANNEL)]


def test_block_action_on_a_channel_message_opens_the_next_page_privately(bot: InProcess) -> None:
    """Paging a message in the channel answers the clicker alone and leaves the message as it
    was (issue 15 item 13: it was rewritten for everyone)."""
    answer = bot.answerer.answer("SC-07")
    page = element(answer.payload.blocks, actions.PAGE)
    ts = new_ts()
    click = block_actions(
        page, message={"type": "message", "ts": ts}, response_url=bot.fake.response_url("b")
    )
    assert bot.interact(click).status == 200
    assert bot.fake.calls_to("chat.update") == []
    (sent,) = bot.fake.calls_to("response_url")
    assert sent.body["replace_original"] is False and sent.body["response_type"] == "ephemeral"
    expected = bot.answerer.answer_from_state(page["value"]).payload
    assert "(page 2 of 2)" in sent.body["text"] and "(page 1 of 2)" in answer.payload.text
    assert (sent.body["text"], sent.body["blocks"]) == (expected.text, expected.blocks)


def test_view_submission_puts_the_results_in_the_modal_and_logs_the_user(bot: InProcess) -> None:
    submission = {
        "type": "view_submission",
        "team": {"id": TEAM},
        "user": {"id": "U0MODAL01", "team_id": TEAM},
        "view": {
            "id": "V0MODAL1",
            "type": "modal",
            "callback_id": "cm_search_modal",
            "private_metadata": "",
            "state": {"values": {"cm_q": {"cm_q": {"type": "plain_text_input", "value": "T1078"}}}},
        },
    }
    body = json.loads(bot.interact(submission).body)
    assert body["response_action"] == "update"
    assert "T1078" in json.dumps(body["view"]["blocks"])
    assert actions.SHARE not in json.dumps(body["view"]["blocks"])  # no channel to share to
    assert [(x.query, x.source) for x in bot.look_ups("U0MODAL01")] == [("T1078", "modal")]


def test_message_shortcut_answers_the_ids_in_the_message_privately(bot: InProcess) -> None:
    shortcut = {
        "type": "message_action",
        "callback_id": "cm_lookup_message",
        "team": {"id": TEAM},
        "user": {"id": USER},
        "channel": {"id": CHANNEL},
        "message": {"ts": new_ts(), "text": "EDR saw <https://attack.mitre.org/techniques/T1055/012/|this>"},
        "response_url": bot.fake.response_url("s"),
        "trigger_id": "1.2.3",
    }
    assert bot.interact(shortcut).status == 200
    (reply,) = bot.fake.calls_to("response_url")
    assert reply.body["response_type"] == "ephemeral"
    assert reply.body["text"] == bot.answerer.answer("T1055.012").payload.text
    assert [(x.query, x.source, x.channel_id) for x in bot.look_ups()] == [("T1055.012", "shortcut", CHANNEL)]


def test_app_home_opened_publishes_the_home_of_that_user(bot: InProcess) -> None:
    bot.command("T1190")
    assert [x.query for x in bot.look_ups()] == ["T1190"]
    event = {"type": "app_home_opened", "user": USER, "channel": "D0DM001", "tab": "home"}
    assert bot.event(event).status == 200
    (published,) = bot.fake.calls_to("views.publish")
    assert published.body["user_id"] == USER and "T1190" in json.dumps(published.body["view"])


def test_link_shared_unfurls_technique_links_into_the_card(bot: InProcess) -> None:
    ts = new_ts()
    links = [
        {"domain": "attack.mitre.org", "url": "https://attack.mitre.org/techniques/T1048/003/"},
        {"domain": "example.com", "url": "https://example.com/T1048"},
    ]
    event = {"type": "link_shared", "channel": CHANNEL, "user": USER, "message_ts": ts, "links": links}
    assert bot.event(event).status == 200
    (unfurl,) = bot.fake.calls_to("chat.unfurl")
    assert (unfurl.body["channel"], unfurl.body["ts"]) == (CHANNEL, ts)
    unfurls = unfurl.body["unfurls"]
    unfurls = json.loads(unfurls) if isinstance(unfurls, str) else unfurls
    assert list(unfurls) == ["https://attack.mitre.org/techniques/T1048/003/"]
    assert unfurls[links[0]["url"]]["blocks"] == public(bot.answerer.card("T1048.003").payload).blocks
    assert [(x.query, x.source, x.channel_id) for x in bot.look_ups()] == [("T1048.003", "unfurl", CHANNEL)]


def test_an_error_outside_the_answer_reaches_app_error_and_gets_the_same_rendering(
    bot: InProcess, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object) -> str:
        raise ValueError("parsing broke")

    monkeypatch.setattr(commands, "question_of", broken)
    response = bot.command("T1048")
    body = json.loads(response.body)
    assert response.status == 200 and body["response_type"] == "ephemeral"
    error_id = body["text"].split("`")[1]
    assert body == {
        "response_type": "ephemeral",
        **message_args(error_payload(UserFacingError(error_id=error_id))),
    }
    assert any(error_id in r.getMessage() and r.exc_info for r in caplog.records)


def test_an_export_from_a_private_answer_goes_to_the_requester_alone(bot: InProcess) -> None:
    """Issue 15 item 11: it was posted in the channel, tagged with the requester."""
    answer = json.loads(bot.command("T1048").body)
    csv = element(answer["blocks"], actions.EXPORT_CSV)
    click = block_actions(csv, ephemeral=True, response_url=bot.fake.response_url("x"))
    assert bot.interact(click).status == 200
    (opened,) = bot.fake.calls_to("conversations.open")
    assert opened.body["users"] == USER
    dm = "D" + USER[1:]  # the fake's DM with that user
    (upload,) = bot.fake.uploads.values()
    assert upload["channel"] == dm and upload["thread_ts"] is None
    assert upload["content"] == bot.answerer.export(csv["value"], "csv")[1]
    assert "T1048" in upload["content"].decode()
    assert bot.fake.calls_to("chat.postMessage") == []  # the channel saw nothing
    (notice,) = bot.fake.calls_to("response_url")
    assert notice.body["response_type"] == "ephemeral" and notice.body["replace_original"] is False
    assert "direct message" in notice.body["text"]
    assert element(notice.body["blocks"], actions.EXPORT_POST_CSV)["value"] == csv["value"]


def test_the_requester_may_then_post_a_private_answers_export_in_the_channel(bot: InProcess) -> None:
    answer = json.loads(bot.command("T1048").body)
    layer = element(answer["blocks"], actions.EXPORT_NAVIGATOR)
    bot.interact(block_actions(layer, ephemeral=True, response_url=bot.fake.response_url("x")))
    (notice,) = bot.fake.calls_to("response_url")
    post = element(notice.body["blocks"], actions.EXPORT_POST_NAVIGATOR)
    bot.fake.reset()
    assert (
        bot.interact(block_actions(post, ephemeral=True, response_url=bot.fake.response_url("p"))).status
        == 200
    )
    (upload,) = bot.fake.uploads.values()
    assert upload["channel"] == CHANNEL
    assert upload["initial_comment"] == f"ATT&CK Navigator layer export shared by <@{USER}>"
    assert json.loads(upload["content"]) == json.loads(bot.answerer.export(layer["value"], "navigator")[1])
    (deleted,) = bot.fake.calls_to("response_url")
    assert deleted.body["delete_original"] is True
    assert bot.fake.calls_to("conversations.open") == []


def test_an_export_from_a_message_in_the_channel_goes_into_its_thread(bot: InProcess) -> None:
    answer = bot.answerer.answer("T1048").payload
    csv = element(answer.blocks, actions.EXPORT_CSV)
    ts = new_ts()
    message = {"type": "message", "ts": ts, "blocks": answer.blocks}
    bot.interact(block_actions(csv, message=message, response_url=bot.fake.response_url("x")))
    (upload,) = bot.fake.uploads.values()
    assert (upload["channel"], upload["thread_ts"]) == (CHANNEL, ts)
    assert upload["initial_comment"] == f"CSV export requested by <@{USER}>"
    assert bot.fake.calls_to("conversations.open") == [] and bot.fake.calls_to("response_url") == []


def test_attack_detect_answers_with_the_detection_answer_in_the_ack(bot: InProcess) -> None:
    body = json.loads(bot.command("detect T1048").body)
    expected = bot.answerer.answer("detect T1048").payload
    assert body["response_type"] == "ephemeral" and body["text"] == expected.text
    assert body["text"].startswith("Detect T1048 Exfiltration Over Alternative Protocol")
    assert body["blocks"] == expected.blocks


def test_the_detections_button_of_a_private_answer_replaces_it_with_the_detections(bot: InProcess) -> None:
    answer = bot.answerer.answer("T1048")
    click = block_actions(
        element(answer.payload.blocks, actions.SWITCH),
        ephemeral=True,
        response_url=bot.fake.response_url("d"),
    )
    assert bot.interact(click).status == 200
    (sent,) = bot.fake.calls_to("response_url")
    assert sent.body["replace_original"] is True
    assert sent.body["text"].startswith("Detect T1048 ")


def test_a_watched_channel_gets_one_actor_card_per_thread(bot: InProcess) -> None:
    bot.deps.cards.set_watch(TEAM, CHANNEL, True, USER)
    ts = new_ts()
    first = {"type": "message", "channel": CHANNEL, "channel_type": "channel", "user": USER, "ts": ts}
    assert (
        bot.event({**first, "text": "ransom note says LockBit, and there is a Cobalt Strike beacon"}).status
        == 200
    )
    cards = bot.fake.calls_to("chat.postMessage")
    assert [c.body["thread_ts"] for c in cards] == [ts, ts]
    assert cards[0].body["text"].startswith("S1202 LockBit 3.0") and cards[1].body["text"].startswith("S0154")
    again = {**first, "ts": new_ts(), "thread_ts": ts, "text": "more LockBit notes on FS02"}
    assert bot.event(again).status == 200
    assert len(bot.fake.calls_to("chat.postMessage")) == 2  # this thread has its LockBit card


def test_chatter_in_a_watched_channel_and_names_in_unwatched_ones_get_no_card(bot: InProcess) -> None:
    bot.deps.cards.set_watch(TEAM, CHANNEL, True, USER)
    base = {"type": "message", "channel_type": "channel", "user": USER}
    bot.event(
        {**base, "channel": CHANNEL, "ts": new_ts(), "text": "keep silence on the bridge, let's play it safe"}
    )
    bot.event({**base, "channel": "C0QUIET01", "ts": new_ts(), "text": "APT29 again?"})
    assert bot.fake.calls_to("chat.postMessage") == []


def test_the_access_log_follows_the_process_level_not_the_level_at_the_last_request(bot: InProcess) -> None:
    """Bolt copies the root's level onto its app logger on every request; the access log is not
    under that logger, so raising the level later is not undone until the next request."""
    root, access = logging.getLogger(), logging.getLogger("countermap.access")
    saved = root.level
    try:
        root.setLevel(logging.WARNING)
        assert bot.command("T1048").status == 200
        assert not access.isEnabledFor(logging.INFO)
        root.setLevel(logging.INFO)
        assert access.isEnabledFor(logging.INFO)
    finally:
        root.setLevel(saved)


def test_watch_with_a_threat_name_changes_nothing_and_names_the_digest_watch_command(bot: InProcess) -> None:
    """``watch on|off`` switches incident cards; ``watch APT29`` is about the digest's watch list
    (``tests/test_digest_threats.py`` checks that command), so it changes nothing and names it."""
    hint = json.loads(bot.command("watch APT29").body)["text"]
    assert "`/attack digest subscribe watch APT29`" in hint
    assert bot.deps.cards.watch_setting(TEAM, CHANNEL) is None


def test_a_request_that_did_not_pass_the_served_door_is_still_verified_by_bolt(bot: InProcess) -> None:
    """The served ``/slack/events`` checks each signature before parsing and marks the request
    (``gate.VERIFIED``), so Bolt does not check it twice; any other way in is still checked."""
    from bot.slack.gate import VERIFIED

    body = command_body("/attack", "T1048", response_url=bot.fake.response_url("v"))
    headers = {"content-type": "application/x-www-form-urlencoded", **signed_headers("not-the-secret", body)}
    forged = BoltRequest(body=body, headers={k.lower(): v for k, v in headers.items()})
    assert bot.app.dispatch(forged).status == 401
    marked = BoltRequest(body=body, headers={k.lower(): v for k, v in headers.items()})
    marked.context[VERIFIED] = True  # what only the door sets, once it has checked the signature
    assert bot.app.dispatch(marked).status == 200
