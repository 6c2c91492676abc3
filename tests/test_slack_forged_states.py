"""Clicks whose value names what is not loaded (a forged ``ZZ-99``, ``T9999``, framework ``zz``),
through the served app on the real corpus: every action refuses to the clicker alone, and
nothing is rendered, updated, shared or exported."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot import actions
from bot.answer import Answerer
from bot.config import Settings
from tests.slack_harness import CHANNEL, SlackUnderTest, block_actions, new_ts, running_app

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
    from store.db import make_engine
    from store.migrate import upgrade

    state = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade(state)
    with running_app(state, real_answerer) as s:
        s.fake.add_channel(CHANNEL, "soc")
        yield s
    state.dispose()


def element(action_id: str, value: str) -> dict[str, object]:
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
                    element(action_id, "cm1:" + state),
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
