"""The manifest Slack is given must match the app that runs: the committed file is the generator's
output, every event a listener acts on is subscribed (and nothing else), and the bot scopes are
exactly those the subscribed events and the Web API methods called anywhere in ``bot/`` need.

Events are found by asking the built app's own listener matchers about sample events, and methods
by scanning the source for WebClient method calls, so a new listener or API call that the manifest
lacks fails here instead of silently never firing in Slack.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient

from bot.config import Settings
from bot.slack import constants
from bot.slack.manifest import COMMITTED_MANIFEST, build_manifest, render_manifest

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Slack's bot events (https://api.slack.com/events) that an app of this kind could plausibly
# listen to; message events are checked per channel type below.
CANDIDATE_EVENTS = (
    "app_home_opened", "app_mention", "app_uninstalled", "app_rate_limited", "channel_created",
    "channel_rename", "channel_archive", "emoji_changed", "file_shared", "link_shared",
    "member_joined_channel", "member_left_channel", "pin_added", "reaction_added", "reaction_removed",
    "team_join", "tokens_revoked", "user_change", "app_requests", "workflow_step_execute",
    "function_executed", "assistant_thread_started",
)  # fmt: skip
MESSAGE_EVENTS = {
    "message.channels": "channel",
    "message.groups": "group",
    "message.im": "im",
    "message.mpim": "mpim",
}

# What Slack requires for each bot event and Web API method (its documentation's "required scopes").
EVENT_SCOPES: dict[str, set[str]] = {
    "app_mention": {"app_mentions:read"},
    "message.channels": {"channels:history"},
    "message.groups": {"groups:history"},
    "message.im": {"im:history"},
    "message.mpim": {"mpim:history"},
    "link_shared": {"links:read"},
    "app_home_opened": set(),
    "app_uninstalled": set(),
    "tokens_revoked": set(),
}
METHOD_SCOPES: dict[str, set[str]] = {
    "chat_postMessage": {"chat:write"},
    "chat_postEphemeral": {"chat:write"},
    "chat_update": {"chat:write"},
    "chat_delete": {"chat:write"},
    "chat_getPermalink": set(),
    "chat_unfurl": {"links:write"},
    "files_upload_v2": {"files:write"},
    "files_list": {"files:read"},
    "conversations_open": {"im:write"},
    "views_open": set(),
    "views_update": set(),
    "views_push": set(),
    "views_publish": set(),
    "users_info": {"users:read"},
    # channels the bot works in: public and private (incident channels are often private)
    "conversations_info": {"channels:read", "groups:read"},
    "conversations_join": {"channels:join"},
    "conversations_history": {"channels:history", "groups:history"},
    "conversations_replies": {"channels:history", "groups:history"},
    "auth_test": set(),
    "oauth_v2_access": set(),
    "apps_connections_open": set(),
}


def test_committed_manifest_is_the_generator_output() -> None:
    assert COMMITTED_MANIFEST.read_text(encoding="utf-8") == render_manifest(Settings()), (
        "data/slack-manifest.yaml is stale: regenerate with `countermap manifest > data/slack-manifest.yaml`"
    )


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    """The real app on a small SQLite database (the manifest does not depend on the backend)."""
    from bot.slack.app import build_app
    from bot.slack.oauth import enable_installation_events
    from store.db import make_engine
    from store.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'manifest.db'}")
    upgrade(engine)

    def authorize(**_: Any) -> AuthorizeResult:
        return AuthorizeResult(
            enterprise_id=None, team_id="T0TEAM001", bot_token="xoxb-x", bot_user_id="U0BOT"
        )

    built = build_app(Settings(), engine, None, client=WebClient(), authorize=authorize, signing_secret="s")
    enable_installation_events(built)
    yield built
    deps = getattr(built, "_countermap_deps", None)
    if deps is not None:
        deps.close()
    engine.dispose()


def _acting_listeners(app: App, body: dict[str, Any]) -> list[Any]:
    """Listeners that match ``body`` and do something beyond acknowledging it."""
    from bot.slack.listeners.common import just_ack

    req = BoltRequest(body=body, mode="socket_mode")
    resp = BoltResponse(status=200)
    return [
        listener
        for listener in app._listeners
        if listener.matches(req=req, resp=resp)
        and (listener.ack_function is not just_ack or listener.lazy_functions)
    ]


def _event(event_type: str, **fields: Any) -> dict[str, Any]:
    event = {"type": event_type, "user": "U0USER001", "channel": "C0CHAN001", "ts": "1.000001",
             "text": "exfiltration over T1048, see SC-07", **fields}  # fmt: skip
    return {"type": "event_callback", "team_id": "T0TEAM001", "event_id": "Ev1", "event": event}


def subscribed_events_the_app_needs(app: App) -> set[str]:
    needed = {t for t in CANDIDATE_EVENTS if _acting_listeners(app, _event(t))}
    needed |= {
        name
        for name, kind in MESSAGE_EVENTS.items()
        if _acting_listeners(app, _event("message", channel_type=kind))
    }
    return needed


def test_events_subscribed_are_exactly_those_the_app_acts_on(app: App) -> None:
    manifest = build_manifest(Settings())
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == subscribed_events_the_app_needs(
        app
    )


def web_api_methods_called() -> set[str]:
    """WebClient methods called anywhere in ``bot/`` (``client.chat_postMessage(...)`` and the like)."""
    called: set[str] = set()
    for path in (PROJECT_ROOT / "bot").rglob("*.py"):
        for name in re.findall(r"\.([a-z]+_[A-Za-z0-9_]+)\(", path.read_text(encoding="utf-8")):
            if not name.startswith("_") and callable(getattr(WebClient, name, None)):
                called.add(name)
        if re.search(r"\bsay\(", path.read_text(encoding="utf-8")):
            called.add("chat_postMessage")
    return called


def test_bot_scopes_are_exactly_what_the_events_and_web_api_calls_need(app: App) -> None:
    called = web_api_methods_called()
    unknown = called - METHOD_SCOPES.keys()
    assert not unknown, f"add the required scopes of {sorted(unknown)} to METHOD_SCOPES (and the manifest)"
    manifest = build_manifest(Settings())
    needed = {"commands"}  # slash commands and shortcuts
    for event in manifest["settings"]["event_subscriptions"]["bot_events"]:
        needed |= EVENT_SCOPES[event]
    for method in called:
        needed |= METHOD_SCOPES[method]
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == needed


def test_every_command_and_shortcut_in_the_manifest_reaches_a_listener(app: App) -> None:
    manifest = build_manifest(Settings())
    for command in manifest["features"]["slash_commands"]:
        body = {"type": None, "command": command["command"], "text": "", "team_id": "T0TEAM001"}
        assert _acting_listeners(app, body), f"no listener for {command['command']}"
    payload_type = {"message": "message_action", "global": "shortcut"}
    for shortcut in manifest["features"]["shortcuts"]:
        body = {"type": payload_type[shortcut["type"]], "callback_id": shortcut["callback_id"]}
        assert _acting_listeners(app, body), f"no listener for shortcut {shortcut['callback_id']}"


def test_unfurl_domains_and_home_tab_match_what_the_app_serves(app: App) -> None:
    manifest = build_manifest(Settings())
    assert manifest["features"]["unfurl_domains"] == list(constants.UNFURL_DOMAINS)
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert _acting_listeners(app, _event("app_home_opened", tab="home"))
    link = {"domain": "attack.mitre.org", "url": "https://attack.mitre.org/techniques/T1048/"}
    assert _acting_listeners(app, _event("link_shared", links=[link], message_ts="1.1"))


def test_committed_manifest_parses_as_yaml_with_the_default_commands() -> None:
    manifest = yaml.safe_load(COMMITTED_MANIFEST.read_text(encoding="utf-8"))
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert commands == ["/attack", *("/" + t.lower() for t in Settings().shortcut_techniques)]
