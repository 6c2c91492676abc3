"""The Slack app answering from the real corpus, end to end over HTTP: what users see is valid
Block Kit (``bot.render.limits``), escaped, and the same on every surface."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot import actions
from bot.answer import Answerer
from bot.config import Settings
from bot.render.limits import violations
from tests.slack_harness import (
    CHANNEL,
    USER,
    SlackUnderTest,
    app_state,
    block_actions,
    element,
    new_ts,
    running_app,
)


@pytest.fixture(autouse=True)
def _no_slack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def real_answerer(corpus_engine: Engine) -> Answerer:
    answerer = Answerer(corpus_engine, Settings())
    answerer.refresh_if_stale()
    return answerer


@pytest.fixture
def slack(tmp_path: Path, real_answerer: Answerer) -> Iterator[SlackUnderTest]:
    """The app's own state in a small database; its answers from the shared, read-only corpus."""
    with app_state(tmp_path / "state.db") as state, running_app(state, real_answerer) as s:
        s.fake.add_channel(CHANNEL, "soc")
        yield s


def valid(message: dict[str, Any], *, attributed_to: str | None = None) -> dict[str, Any]:
    """No violation of Slack's limits or of our escaping rules.  A shared answer names its sharer
    with a real user mention (``<@U…>``): allowed for that user only."""
    payload = {"text": message.get("text", ""), "blocks": message.get("blocks", [])}
    problems = violations(payload, allow_users=(attributed_to,) if attributed_to else ())
    assert problems == [], problems
    return message


def shown_text(blocks: list[dict[str, Any]]) -> str:
    """Everything Slack renders (text objects), not element values."""
    out: list[str] = []

    def walk(obj: Any) -> None:
        if isinstance(obj, dict):
            if obj.get("type") in ("mrkdwn", "plain_text") and isinstance(obj.get("text"), str):
                out.append(obj["text"])
            for key, value in obj.items():
                if key not in ("value", "action_id", "block_id", "url"):
                    walk(value)
        elif isinstance(obj, list):
            for item in obj:
                walk(item)

    walk(blocks)
    return "\n".join(out)


def test_technique_command_answers_exactly_like_the_main_command(slack: SlackUnderTest) -> None:
    short = valid(slack.command("SC-07", command="/t1048").json())
    long = valid(slack.command("T1048 SC-07").json())
    assert short["blocks"] == long["blocks"] and short["response_type"] == "ephemeral"
    text = shown_text(short["blocks"])
    assert "SC-07" in text and "T1048" in text and "Boundary Protection" in text
    assert actions.SHARE in json.dumps(short["blocks"])


def test_share_then_export_a_navigator_layer_into_the_shared_messages_thread(slack: SlackUnderTest) -> None:
    answer = slack.command("T1048").json()
    share = element(answer["blocks"], actions.SHARE)
    slack.interact(block_actions(share, ephemeral=True, response_url=slack.fake.response_url("s")))
    (posted,) = slack.fake.wait_for("chat.postMessage")
    valid(posted.body, attributed_to=USER)
    assert f"<@{USER}>" in shown_text(posted.body["blocks"])
    assert actions.SHARE not in json.dumps(posted.body["blocks"])
    assert slack.fake.wait_for("response_url")[0].body["delete_original"] is True

    (message,) = slack.fake.messages(CHANNEL)
    export = element(message["blocks"], actions.EXPORT_NAVIGATOR)
    slack.interact(block_actions(export, message=message, response_url=slack.fake.response_url("e")))
    slack.fake.wait_for("files.completeUploadExternal", timeout=10)
    (upload,) = slack.fake.uploads.values()
    assert upload["thread_ts"] == message["ts"]
    layer = json.loads(upload["content"])
    assert any(t["techniqueID"] == "T1048" for t in layer["techniques"])

    # switching framework on the shared message shows the clicker their own copy, privately
    picker = element(message["blocks"], actions.PICK_FRAMEWORK)
    slack.interact(block_actions(picker, message=message, response_url=slack.fake.response_url("p")))
    private = [c for c in slack.fake.wait_for("response_url", count=2) if c.body.get("blocks")]
    assert private and private[-1].body["replace_original"] is False
    valid(private[-1].body)
    assert slack.fake.calls_to("chat.update") == []


def test_framework_picker_on_a_shared_message_opens_privately_and_leaves_it(slack: SlackUnderTest) -> None:
    """Issue 15 item 13: a click on a message in the channel rewrote it for everyone."""
    answer = slack.command("T1059").json()
    picker = element(answer["blocks"], actions.PICK_FRAMEWORK)
    message = {"type": "message", "ts": new_ts(), "blocks": answer["blocks"]}
    slack.interact(block_actions(picker, message=message, response_url=slack.fake.response_url("p")))
    (sent,) = slack.fake.wait_for("response_url", timeout=10)
    valid(sent.body)
    assert sent.body["replace_original"] is False and sent.body["response_type"] == "ephemeral"
    assert sent.body["blocks"] != answer["blocks"]
    assert slack.fake.calls_to("chat.update") == []


def test_channel_ping_in_a_question_is_echoed_escaped(slack: SlackUnderTest) -> None:
    reply = valid(slack.command("<!channel> frobnicate the widgets").json())
    text = shown_text(reply["blocks"]) + reply["text"]
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text


def test_mention_reply_and_incident_card_are_valid_and_threaded(slack: SlackUnderTest) -> None:
    ts = new_ts()
    slack.event(
        {"type": "app_mention", "channel": CHANNEL, "user": USER, "text": "<@U0BOT0001> T1566.001", "ts": ts}
    )
    (reply,) = slack.fake.wait_for("chat.postMessage", timeout=10)
    assert reply.body["thread_ts"] == ts
    assert "T1566.001" in shown_text(valid(reply.body)["blocks"])

    slack.fake.add_channel("C0INC9", "incident-4711")
    root = new_ts()
    event = {"type": "message", "channel": "C0INC9", "channel_type": "channel", "user": USER, "ts": root,
             "text": "EDR: T1486 on fs01"}  # fmt: skip
    slack.event(event)
    slack.event({**event, "ts": new_ts(), "thread_ts": root, "text": "still T1486"})
    card = slack.fake.wait_for("chat.postMessage", count=2, timeout=10)[1]
    assert card.body["thread_ts"] == root and "T1486" in shown_text(valid(card.body)["blocks"])
    assert len([m for m in slack.fake.messages("C0INC9")]) == 1


def test_link_to_a_technique_page_unfurls_into_a_valid_card(slack: SlackUnderTest) -> None:
    url = "https://attack.mitre.org/techniques/T1048/003/"
    ts = new_ts()
    slack.event({"type": "link_shared", "channel": CHANNEL, "user": USER, "message_ts": ts,
                 "links": [{"domain": "attack.mitre.org", "url": url}]})  # fmt: skip
    (call,) = slack.fake.wait_for("chat.unfurl", timeout=10)
    card = call.body["unfurls"][url]
    valid({"text": "unfurls carry no fallback text", "blocks": card["blocks"]})
    assert "T1048.003" in shown_text(card["blocks"])


def test_modal_search_with_filters_and_app_home_show_real_data(slack: SlackUnderTest) -> None:
    values = {
        "cm_q": {"cm_q": {"type": "plain_text_input", "value": "T1110"}},
        "cm_cat": {"cm_cat": {"type": "checkboxes", "selected_options": [{"value": "protect"}]}},
    }
    view = {"id": "V1", "type": "modal", "callback_id": "cm_search_modal", "state": {"values": values}}
    submission = {"type": "view_submission", "team": {"id": "T0TEAM001"}, "user": {"id": USER}, "view": view}
    body = slack.interact(submission).json()
    assert body["response_action"] == "update"
    assert "T1110" in shown_text(body["view"]["blocks"]) and len(body["view"]["blocks"]) <= 100

    slack.event({"type": "app_home_opened", "user": USER, "channel": "D0DM1", "tab": "home"})
    (home,) = slack.fake.wait_for("views.publish", timeout=10)
    text = shown_text(home.body["view"]["blocks"])
    assert "NIST 800-53" in text and "mappings" in text


def test_the_search_form_offers_the_attack_versions_loaded_and_reads_ics_as_written(
    slack: SlackUnderTest,
) -> None:
    """Issue 15 item 13: the modal had no ATT&CK version, and its domain option read "Ics"."""
    shortcut = {"type": "shortcut", "callback_id": "cm_search", "team": {"id": "T0TEAM001"},
                "user": {"id": USER}, "trigger_id": "1.2.3"}  # fmt: skip
    slack.interact(shortcut)
    (update,) = slack.fake.wait_for("views.update", timeout=10)
    blocks = {b["block_id"]: b for b in update.body["view"]["blocks"] if "block_id" in b}
    versions = [o["value"] for o in blocks["cm_av"]["element"]["options"]]
    assert versions == sorted(versions, key=lambda v: tuple(map(int, v.split("."))), reverse=True)
    assert {"16.1", "8.2"} <= set(versions)
    domains = [o["text"]["text"] for o in blocks["cm_dom"]["element"]["options"]]
    assert domains == ["Enterprise", "Mobile", "ICS"]


def test_a_search_for_an_older_attack_version_answers_from_that_release(slack: SlackUnderTest) -> None:
    values = {
        "cm_q": {"cm_q": {"type": "plain_text_input", "value": "T1048 nist"}},
        "cm_av": {"cm_av": {"type": "static_select", "selected_option": {"value": "10.1"}}},
    }
    view = {"id": "V1", "type": "modal", "callback_id": "cm_search_modal", "state": {"values": values}}
    submission = {"type": "view_submission", "team": {"id": "T0TEAM001"}, "user": {"id": USER}, "view": view}
    body = slack.interact(submission).json()
    text = shown_text(body["view"]["blocks"])
    assert "ATT&amp;CK 10.1" in text and "ATT&amp;CK 16.1" not in text.split("Other releases")[0]
    assert '"av": "10.1"' in body["view"]["private_metadata"]


def test_app_home_lists_each_frameworks_versions_in_order(slack: SlackUnderTest) -> None:
    slack.event({"type": "app_home_opened", "user": USER, "channel": "D0DM1", "tab": "home"})
    (home,) = slack.fake.wait_for("views.publish", timeout=10)
    nist = next(ln for ln in shown_text(home.body["view"]["blocks"]).splitlines() if "NIST 800-53" in ln)
    attack = nist.split("ATT&CK ", 1)[1].split(" ·")[0].split(" (")[0]
    versions = [v.strip() for v in attack.split(",")]
    assert versions == sorted(versions, key=lambda v: tuple(map(int, v.split("."))))
    assert versions[0] == "8.2" and "16.1" in versions


def test_link_to_a_mappings_explorer_capability_page_unfurls_into_that_capability(
    slack: SlackUnderTest,
) -> None:
    url = (
        "https://center-for-threat-informed-defense.github.io/mappings-explorer/external/m365/attack-14.1/"
        "domain-enterprise/m365/DEF-ATH-E5/"
    )
    link = {"domain": "center-for-threat-informed-defense.github.io", "url": url}
    slack.event(
        {"type": "link_shared", "channel": CHANNEL, "user": USER, "message_ts": new_ts(), "links": [link]}
    )
    (call,) = slack.fake.wait_for("chat.unfurl", timeout=10)
    blocks = call.body["unfurls"][url]["blocks"]
    valid({"text": "unfurls carry no fallback text", "blocks": blocks})
    assert "DEF-ATH-E5" in shown_text(blocks) and "Advanced Threat Hunting" in shown_text(blocks)


# ------------------------------------------------------------------------------ forged button values
# Clicks whose value names what is not loaded (a forged ZZ-99, T9999, framework zz): every action
# refuses to the clicker alone, and nothing is rendered, updated, shared or exported.

FORGED = (
    '{"k":"capability","c":[["nist_800_53","ZZ-99"]]}',
    '{"k":"technique","t":["T9999"],"f":["nist_800_53"]}',
    '{"k":"technique","t":["T1048"],"f":["zz"]}',
    '{"k":"pair","t":["T1048"],"c":[["nist_800_53","ZZ-99"]]}',
    '{"k":"group","g":["nist_800_53","ZZ"]}',
)
BUTTONS = (
    actions.PAGE,
    actions.DID_YOU_MEAN,
    actions.EXPAND,
    actions.COLLAPSE,
    actions.SHARE,
    actions.EXPORT_CSV,
    actions.EXPORT_NAVIGATOR,
)
MENUS = (actions.PICK_FRAMEWORK, actions.PICK_RELEASE)
RENDERING_CALLS = ("chat.postMessage", "chat.update", "views.update", "files.completeUploadExternal")


def forged_element(action_id: str, value: str) -> dict[str, object]:
    if action_id in MENUS:
        option = {"text": {"type": "plain_text", "text": "x"}, "value": value}
        return {"action_id": f"{action_id}:1", "type": "static_select", "options": [option]}
    return {"action_id": f"{action_id}:1", "type": "button", "value": value}


def test_every_action_refuses_a_state_naming_what_is_not_loaded(slack: SlackUnderTest) -> None:
    clicks = []
    for action_id in BUTTONS + MENUS:
        for on_a_channel_message in (False, True):
            message = {"type": "message", "ts": new_ts(), "text": "x"} if on_a_channel_message else None
            for n, state in enumerate(FORGED):
                name = f"{action_id}-{'channel' if on_a_channel_message else 'ephemeral'}-{n}"
                payload = block_actions(
                    forged_element(action_id, "cm1:" + state),
                    message=message,
                    ephemeral=not on_a_channel_message,
                    response_url=slack.fake.response_url(name),
                )
                assert slack.interact(payload).status == 200
                clicks.append(name)
    slack.drain()
    replies = {c.path.rsplit("/", 1)[-1]: c for c in slack.fake.calls_to("response_url") if c.accepted}
    assert sorted(replies) == sorted(clicks)  # one answer to each click, to the clicker
    for name, reply in replies.items():
        assert "names something I don't have" in reply.body["text"], name
        assert reply.body.get("replace_original") is False, name  # the message clicked stays
        assert reply.body.get("response_type", "ephemeral") == "ephemeral", name
        assert "ZZ" not in reply.body["text"] and "T9999" not in reply.body["text"], name
    assert [c.method for c in slack.fake.calls if c.method in RENDERING_CALLS] == []
